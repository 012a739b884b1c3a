//! JSON request bodies whose rejections are the API's JSON errors (400, or 413 for
//! a body over the limit), not axum's plain-text ones.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// JSON body extractor whose rejections are JSON API errors.
pub struct J<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|j| J(j.0))
            .map_err(|e| {
                // Too large stays 413; every other body problem is the client's: 400.
                let status = match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError {
                    status,
                    ..ApiError::invalid(e.body_text())
                }
            })
    }
}
