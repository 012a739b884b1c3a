//! Errors as the API answers them (a status code and `{"error": code, "message":
//! text}`) and as the AWS-compatible endpoint does (AWS's JSON 1.1 error shape).

use auditwatch_store::StoreError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// An error answered as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The JSON body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code: `invalid_request`, `not_found`, `forbidden`, `unauthenticated`,
    /// `query_failed`, `conflict`, `internal`.
    pub error: String,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// 400 with `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }

    /// 401.
    pub fn unauthenticated() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated",
            message: "sign in first".into(),
        }
    }

    /// 400: the request went past one of its bounds, which the message names.
    pub fn limit(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "limit_exceeded",
            message: message.into(),
        }
    }

    /// 500; the detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; the server log has the detail".into(),
        }
    }

    /// A store error from a query the caller wrote (SQL): engine errors are the
    /// caller's to fix, so 400 with the engine's message.
    pub fn from_user_query(e: StoreError) -> Self {
        match e {
            StoreError::InvalidRequest(m) | StoreError::InvalidToken(m) => Self::invalid(m),
            StoreError::Limit(m) => Self::limit(m),
            StoreError::Query(m) => Self {
                status: StatusCode::BAD_REQUEST,
                code: "query_failed",
                message: m,
            },
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidRequest(m) | StoreError::InvalidToken(m) => Self::invalid(m),
            StoreError::Limit(m) => Self::limit(m),
            other => Self::internal(other),
        }
    }
}

impl From<auditwatch_auth::AuthError> for ApiError {
    fn from(e: auditwatch_auth::AuthError) -> Self {
        use auditwatch_auth::AuthError as E;
        match e {
            E::Invalid(m) => Self::invalid(m),
            e @ (E::NoSuchUser(_) | E::NoSuchToken(_)) => Self::not_found(e.to_string()),
            e @ E::UserExists(_) => Self {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: e.to_string(),
            },
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// An error in AWS's JSON 1.1 shape.
#[derive(Debug)]
pub struct AwsError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AwsError {
    /// An error of AWS type `kind` (status 400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.kind, "message": self.message}).to_string();
        (
            self.status,
            [
                (header::CONTENT_TYPE, "application/x-amz-json-1.1"),
                (
                    header::HeaderName::from_static("x-amzn-errortype"),
                    self.kind,
                ),
            ],
            body,
        )
            .into_response()
    }
}

impl From<ApiError> for AwsError {
    fn from(e: ApiError) -> Self {
        let kind = match e.status {
            StatusCode::FORBIDDEN => "AccessDeniedException",
            StatusCode::UNAUTHORIZED => "UnrecognizedClientException",
            s if s.is_client_error() => "ValidationException",
            _ => "InternalFailure",
        };
        Self {
            status: e.status,
            kind,
            message: e.message,
        }
    }
}
