//! `auditwatch generate`: deterministic, realistic CloudTrail in the real S3 layout.
//!
//! Many principals with skewed activity (a few users do most of the work), ~200 event
//! names over ~40 services, console sign-ins, errors, and a few attack patterns
//! (StopLogging, a burst of GetSecretValue on TopSecretInfo, a root sign-in, a run of
//! failed console logins, new access keys), and role sessions started by calls that
//! attribution follows to their origin ([`sessions`]). Each file is generated from its own
//! seeded RNG, so output is identical for the same arguments whatever the threads.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use flate2::{Compression, write::GzEncoder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod sessions;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Folder to write into (`AWSLogs/…` is created below it).
    pub out: PathBuf,
    /// Number of events.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// The generated period ends here.
    pub end: DateTime<Utc>,
    /// Length of the period in days.
    pub days: u32,
    /// When set, each file's events fall within this many seconds of its start (as a
    /// CloudTrail file covers about five minutes); by default they spread over the
    /// file's whole share of the period.
    pub file_span_seconds: Option<u32>,
}

/// What was generated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    /// Files written.
    pub files: u64,
    /// Events written.
    pub events: u64,
    /// Compressed bytes written.
    pub bytes: u64,
}

const ACCOUNTS: [(&str, u32); 3] = [
    ("111122223333", 6),
    ("444455556666", 3),
    ("777788889999", 1),
];
const REGIONS: [(&str, u32); 4] = [
    ("us-east-1", 8),
    ("eu-west-1", 4),
    ("us-west-2", 2),
    ("ap-southeast-2", 1),
];
const EVENTS_PER_FILE: u64 = 1000;

/// Calls that are rare in real trails, and how many of each picked is kept (the rest
/// become the service's most common call): a handful a week in the demo, not hundreds.
const RARE: [(&str, u32); 9] = [
    ("StopLogging", 60),
    ("DeleteTrail", 60),
    ("DeleteEventDataStore", 60),
    ("UpdateTrail", 20),
    ("PutEventSelectors", 20),
    ("CreateAccessKey", 25),
    ("DeleteAccessKey", 15),
    ("CreateLoginProfile", 15),
    ("AttachUserPolicy", 8),
];

/// How busy an hour of the week is (UTC): office hours on weekdays, a quieter evening,
/// little at night and at weekends (automation runs all the time).
fn activity(t: DateTime<Utc>) -> f64 {
    use chrono::{Datelike, Timelike};
    let weekend = t.weekday().number_from_monday() >= 6;
    let by_hour = match t.hour() {
        0..=5 => 0.15,
        6 | 7 => 0.4,
        8..=11 => 1.0,
        12 => 0.8,
        13..=16 => 1.0,
        17 | 18 => 0.6,
        _ => 0.3,
    };
    if weekend {
        0.15 + by_hour * 0.2
    } else {
        by_hour
    }
}

/// Where each file's stretch of time starts (and the last one ends), so that every
/// file holds its share of the period's activity: busy hours get more files, and
/// the events over the period follow [`activity`].
fn file_bounds(start: DateTime<Utc>, end: DateTime<Utc>, files: u64) -> Vec<DateTime<Utc>> {
    let minutes = (end - start).num_minutes().max(1);
    let weights: Vec<f64> = (0..minutes)
        .map(|m| activity(start + Duration::minutes(m)))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut bounds = Vec::with_capacity(files as usize + 1);
    bounds.push(start);
    let mut acc = 0.0;
    let mut next = 1;
    for (m, w) in weights.iter().enumerate() {
        acc += w;
        while next < files && acc >= total * next as f64 / files as f64 {
            bounds.push(start + Duration::minutes(m as i64 + 1));
            next += 1;
        }
    }
    while (bounds.len() as u64) < files + 1 {
        bounds.push(end);
    }
    bounds
}

/// (service, [event names]); the first names of each service are the common ones.
const SERVICES: &[(&str, &[&str])] = &[
    (
        "s3",
        &[
            "GetObject",
            "PutObject",
            "ListObjects",
            "HeadObject",
            "DeleteObject",
            "GetBucketAcl",
            "GetBucketPolicy",
            "PutBucketPolicy",
            "CreateBucket",
            "DeleteBucket",
            "GetBucketLocation",
            "ListBuckets",
            "PutBucketAcl",
            "GetBucketVersioning",
        ],
    ),
    (
        "ec2",
        &[
            "DescribeInstances",
            "DescribeSecurityGroups",
            "DescribeVolumes",
            "DescribeSubnets",
            "DescribeVpcs",
            "RunInstances",
            "StartInstances",
            "StopInstances",
            "TerminateInstances",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "CreateSecurityGroup",
            "DescribeImages",
            "CreateTags",
            "DescribeRegions",
        ],
    ),
    (
        "iam",
        &[
            "GetUser",
            "ListUsers",
            "ListRoles",
            "GetRole",
            "ListPolicies",
            "GetPolicy",
            "CreateUser",
            "DeleteUser",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "CreateAccessKey",
            "DeleteAccessKey",
            "UpdateAccessKey",
            "PutUserPolicy",
            "CreateRole",
            "AttachRolePolicy",
            "ListAccessKeys",
            "CreateLoginProfile",
        ],
    ),
    (
        "sts",
        &[
            "AssumeRole",
            "GetCallerIdentity",
            "GetSessionToken",
            "AssumeRoleWithWebIdentity",
            "AssumeRoleWithSAML",
            "GetFederationToken",
        ],
    ),
    (
        "lambda",
        &[
            "ListFunctions20150331",
            "GetFunction20150331v2",
            "Invoke",
            "CreateFunction20150331",
            "UpdateFunctionCode20150331v2",
            "DeleteFunction20150331",
            "AddPermission20150331v2",
        ],
    ),
    (
        "dynamodb",
        &[
            "DescribeTable",
            "ListTables",
            "CreateTable",
            "DeleteTable",
            "UpdateTable",
            "DescribeContinuousBackups",
        ],
    ),
    (
        "rds",
        &[
            "DescribeDBInstances",
            "DescribeDBClusters",
            "CreateDBInstance",
            "DeleteDBInstance",
            "ModifyDBInstance",
            "CreateDBSnapshot",
        ],
    ),
    (
        "cloudtrail",
        &[
            "DescribeTrails",
            "GetTrailStatus",
            "LookupEvents",
            "StopLogging",
            "DeleteTrail",
            "UpdateTrail",
            "StartLogging",
            "PutEventSelectors",
        ],
    ),
    (
        "kms",
        &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "DescribeKey",
            "ListKeys",
            "ListAliases",
            "DisableKey",
            "ScheduleKeyDeletion",
            "CreateKey",
        ],
    ),
    (
        "secretsmanager",
        &[
            "GetSecretValue",
            "DescribeSecret",
            "ListSecrets",
            "CreateSecret",
            "PutSecretValue",
            "DeleteSecret",
            "UpdateSecret",
        ],
    ),
    (
        "logs",
        &[
            "CreateLogStream",
            "PutLogEvents",
            "DescribeLogGroups",
            "DescribeLogStreams",
            "CreateLogGroup",
            "DeleteLogGroup",
            "PutMetricFilter",
        ],
    ),
    (
        "cloudwatch",
        &[
            "GetMetricData",
            "PutMetricData",
            "DescribeAlarms",
            "PutMetricAlarm",
            "DeleteAlarms",
            "ListMetrics",
        ],
    ),
    (
        "sns",
        &[
            "Publish",
            "ListTopics",
            "CreateTopic",
            "Subscribe",
            "DeleteTopic",
            "GetTopicAttributes",
        ],
    ),
    (
        "sqs",
        &[
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "GetQueueAttributes",
            "ListQueues",
            "CreateQueue",
        ],
    ),
    (
        "ecr",
        &[
            "GetAuthorizationToken",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "PutImage",
            "DescribeRepositories",
        ],
    ),
    (
        "ecs",
        &[
            "DescribeServices",
            "ListTasks",
            "DescribeTasks",
            "UpdateService",
            "RunTask",
            "RegisterTaskDefinition",
        ],
    ),
    (
        "eks",
        &[
            "DescribeCluster",
            "ListClusters",
            "CreateCluster",
            "DeleteCluster",
        ],
    ),
    (
        "cloudformation",
        &[
            "DescribeStacks",
            "ListStacks",
            "CreateStack",
            "UpdateStack",
            "DeleteStack",
            "DescribeStackEvents",
        ],
    ),
    (
        "config",
        &[
            "DescribeConfigRules",
            "PutConfigRule",
            "DeleteConfigRule",
            "StopConfigurationRecorder",
            "DeleteDeliveryChannel",
        ],
    ),
    (
        "guardduty",
        &[
            "ListDetectors",
            "GetDetector",
            "DeleteDetector",
            "UpdateDetector",
        ],
    ),
    (
        "organizations",
        &["DescribeOrganization", "ListAccounts", "LeaveOrganization"],
    ),
    (
        "route53",
        &[
            "ListHostedZones",
            "ChangeResourceRecordSets",
            "GetHostedZone",
        ],
    ),
    (
        "elasticloadbalancing",
        &[
            "DescribeLoadBalancers",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
        ],
    ),
    (
        "autoscaling",
        &[
            "DescribeAutoScalingGroups",
            "UpdateAutoScalingGroup",
            "DescribeScalingActivities",
        ],
    ),
    (
        "ssm",
        &[
            "GetParameter",
            "GetParameters",
            "PutParameter",
            "DescribeInstanceInformation",
            "SendCommand",
            "StartSession",
        ],
    ),
    ("signin", &["ConsoleLogin", "SwitchRole", "ExitRole"]),
    (
        "glue",
        &["GetTables", "GetDatabases", "GetTable", "CreateTable"],
    ),
    (
        "athena",
        &[
            "StartQueryExecution",
            "GetQueryExecution",
            "GetQueryResults",
        ],
    ),
    ("apigateway", &["GetRestApis", "CreateRestApi", "GetStages"]),
    (
        "cloudfront",
        &["ListDistributions", "GetDistribution", "CreateInvalidation"],
    ),
    (
        "elasticache",
        &["DescribeCacheClusters", "DescribeReplicationGroups"],
    ),
    ("es", &["DescribeElasticsearchDomains", "ListDomainNames"]),
    ("kinesis", &["DescribeStream", "ListStreams", "PutRecord"]),
    (
        "firehose",
        &["DescribeDeliveryStream", "ListDeliveryStreams"],
    ),
    (
        "codebuild",
        &["StartBuild", "BatchGetBuilds", "ListProjects"],
    ),
    (
        "codepipeline",
        &[
            "GetPipelineState",
            "StartPipelineExecution",
            "ListPipelines",
        ],
    ),
    (
        "backup",
        &["ListBackupJobs", "StartBackupJob", "DeleteBackupVault"],
    ),
    (
        "acm",
        &[
            "ListCertificates",
            "DescribeCertificate",
            "RequestCertificate",
        ],
    ),
    ("waf", &["GetWebACL", "UpdateWebACL", "ListWebACLs"]),
    (
        "securityhub",
        &["GetFindings", "BatchImportFindings", "DisableSecurityHub"],
    ),
    ("access-analyzer", &["ListAnalyzers", "ListFindings"]),
];

const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xena",
    "yusuf",
    "zoe",
    "arjun",
    "beatriz",
    "chen",
    "dmitri",
    "elif",
    "farah",
    "goran",
    "hana",
    "ines",
    "jonas",
    "kemal",
    "lena",
    "mateo",
    "nora",
    "omar",
    "priya",
    "quinn",
    "ravi",
    "deploy-bot",
    "terraform",
    "backup-svc",
    "ci-runner",
];
const ROLES: &[(&str, &[&str])] = &[
    (
        "AdminRole",
        &["alice@example.com", "bob@example.com", "break-glass"],
    ),
    (
        "DeveloperRole",
        &[
            "carol@example.com",
            "dave@example.com",
            "erin@example.com",
            "frank@example.com",
        ],
    ),
    (
        "AWSReservedSSO_AdministratorAccess_5f2e1c9a7b3d4e60",
        &[
            "ivan@example.com",
            "judy@example.com",
            "mallory@example.com",
        ],
    ),
    (
        "ReadOnlyRole",
        &["auditor", "grace@example.com", "heidi@example.com"],
    ),
    (
        "DeployRole",
        &["carol-deploy", "ivan-deploy", "judy-deploy"],
    ),
    (
        "LambdaExecutionRole",
        &["order-processor", "nightly-report", "image-resizer"],
    ),
    (
        "EKSNodeRole",
        &["i-0a1b2c3d4e5f60718", "i-0f9e8d7c6b5a49382"],
    ),
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0",
    "aws-sdk-java/2.25.16 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10",
];
const ERRORS: &[(&str, &str)] = &[
    (
        "AccessDenied",
        "User is not authorized to perform this operation",
    ),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    ("NoSuchBucket", "The specified bucket does not exist"),
    ("ResourceNotFoundException", "Requested resource not found"),
    ("ValidationException", "1 validation error detected"),
];

/// Writes the dataset.
pub fn generate(spec: &Spec) -> Result<Generated> {
    let files = spec.events.div_ceil(EVENTS_PER_FILE).max(1);
    let span = Duration::days(i64::from(spec.days.max(1)));
    let bounds = file_bounds(spec.end - span, spec.end, files);
    let bounds = &bounds;
    let accounts: Vec<&str> = (0..files)
        .map(|f| *pick(&mut file_rng(spec.seed, f), &ACCOUNTS))
        .collect();
    let assigned = &sessions::assigned(&accounts);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let results: Vec<Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<u64> {
                    let mut bytes = 0;
                    let mut f = t;
                    while f < files {
                        bytes += write_file(spec, f, files, bounds, &assigned[f as usize])?;
                        f += threads;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect()
    });
    let mut bytes = 0;
    for r in results {
        bytes += r?;
    }
    Ok(Generated {
        files,
        events: spec.events,
        bytes,
    })
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[0].0
}

/// A skewed index in `0..n`: low indices are much more likely (roughly Zipf), and
/// every index can come up (`(n + 1)^u - 1` spans `[0, n)` for `u` in `[0, 1)`).
fn skewed(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let u: f64 = rng.random_range(0.0..1.0);
    (((n + 1) as f64).powf(u) - 1.0)
        .floor()
        .clamp(0.0, n.saturating_sub(1) as f64) as usize
}

struct Actor {
    identity: String,
    /// Which services this principal mostly uses (its name's hash).
    habit: usize,
    agent: &'static str,
    ip: String,
}

fn actor(rng: &mut ChaCha8Rng, account: &str) -> Actor {
    let ip = format!(
        "{}.{}.{}.{}",
        [198, 203, 192, 10][skewed(rng, 4)],
        rng.random_range(0..3) * 17 + 18,
        skewed(rng, 40),
        skewed(rng, 60) + 2
    );
    let agent = AGENTS[skewed(rng, AGENTS.len())];
    let roll = rng.random_range(0..100);
    let habit;
    let identity = if roll < 55 {
        let user = USERS[skewed(rng, USERS.len())];
        habit = fnv(user) as usize;
        let key = format!("AKIA{:016}", fnv(user) % 10_000_000_000_000_000);
        format!(
            r#"{{"type":"IAMUser","principalId":"AIDA{p:016}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"{key}","userName":"{user}"}}"#,
            p = fnv(user) % 10_000_000_000_000_000
        )
    } else if roll < 93 {
        let (role, sessions) = ROLES[skewed(rng, ROLES.len())];
        let session = sessions[skewed(rng, sessions.len())];
        habit = fnv(role) as usize;
        role_identity(account, role, session)
    } else {
        let svc = [
            "cloudtrail.amazonaws.com",
            "config.amazonaws.com",
            "autoscaling.amazonaws.com",
            "lambda.amazonaws.com",
        ][skewed(rng, 4)];
        return Actor {
            habit: fnv(svc) as usize,
            identity: format!(r#"{{"type":"AWSService","invokedBy":"{svc}"}}"#),
            agent: svc,
            ip: svc.to_string(),
        };
    };
    Actor {
        identity,
        habit,
        agent,
        ip,
    }
}

/// The `userIdentity` of a call made in `session` of `role` in `account`.
fn role_identity(account: &str, role: &str, session: &str) -> String {
    let key = sessions::session_key(account, session);
    let rid = format!("AROA{:016}", fnv(role) % 10_000_000_000_000_000);
    let path = sessions::role_path(role);
    format!(
        r#"{{"type":"AssumedRole","principalId":"{rid}:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}","accountId":"{account}","accessKeyId":"{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{rid}","arn":"arn:aws:iam::{account}:role/{path}{role}","accountId":"{account}","userName":"{role}"}},"attributes":{{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"}}}}}}"#
    )
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn read_only(name: &str) -> bool {
    ["Get", "List", "Describe", "Head", "Lookup", "BatchGet"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn resource(
    service: &str,
    name: &str,
    account: &str,
    region: &str,
    rng: &mut ChaCha8Rng,
) -> (String, String) {
    let n = skewed(rng, 30);
    match service {
        "s3" => (
            format!(
                r#"{{"bucketName":"data-{n}-{account}","key":"reports/2024/file-{}.csv","Host":"data-{n}-{account}.s3.amazonaws.com"}}"#,
                rng.random_range(0..1000)
            ),
            format!(
                r#"[{{"accountId":"{account}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::data-{n}-{account}"}}]"#
            ),
        ),
        "secretsmanager" => {
            let secret = ["db-password", "api-key", "stripe-token", "deploy-key"][skewed(rng, 4)];
            (
                format!(r#"{{"secretId":"{secret}"}}"#),
                format!(
                    r#"[{{"accountId":"{account}","type":"AWS::SecretsManager::Secret","ARN":"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-AbCdEf"}}]"#
                ),
            )
        }
        "ec2" => (
            format!(
                r#"{{"instancesSet":{{"items":[{{"instanceId":"i-0{:016x}"}}]}}}}"#,
                n
            ),
            format!(
                r#"[{{"accountId":"{account}","type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:{region}:{account}:instance/i-0{n:016x}"}}]"#
            ),
        ),
        "kms" => (
            format!(
                r#"{{"keyId":"arn:aws:kms:{region}:{account}:key/{n:08}-0000-4000-8000-000000000000"}}"#
            ),
            format!(
                r#"[{{"accountId":"{account}","type":"AWS::KMS::Key","ARN":"arn:aws:kms:{region}:{account}:key/{n:08}-0000-4000-8000-000000000000"}}]"#
            ),
        ),
        "iam" => (
            format!(r#"{{"userName":"{}"}}"#, USERS[skewed(rng, USERS.len())]),
            String::new(),
        ),
        "lambda" => (
            format!(r#"{{"functionName":"fn-{n}"}}"#),
            format!(
                r#"[{{"accountId":"{account}","type":"AWS::Lambda::Function","ARN":"arn:aws:lambda:{region}:{account}:function:fn-{n}"}}]"#
            ),
        ),
        "dynamodb" => (
            format!(r#"{{"tableName":"table-{n}"}}"#),
            format!(
                r#"[{{"accountId":"{account}","type":"AWS::DynamoDB::Table","ARN":"arn:aws:dynamodb:{region}:{account}:table/table-{n}"}}]"#
            ),
        ),
        _ => {
            let _ = name;
            (
                if rng.random_range(0..3) == 0 {
                    "null".into()
                } else {
                    format!(r#"{{"maxResults":{}}}"#, 10 * (n + 1))
                },
                String::new(),
            )
        }
    }
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let v: u128 = rng.random();
    let v = (v & !(0xf000 << 64) | (0x4000 << 64)) & !(0xc000 << 48) | (0x8000 << 48);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An attack pattern placed in a given file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Planted {
    StopLogging,
    SecretBurst,
    RootLogin,
    FailedLogins,
    NewAccessKey,
}

fn planted(file: u64, files: u64) -> Option<Planted> {
    let every = (files / 6).max(1);
    if file % every != every / 2 {
        return None;
    }
    Some(match (file / every) % 5 {
        0 => Planted::SecretBurst,
        1 => Planted::FailedLogins,
        2 => Planted::RootLogin,
        3 => Planted::StopLogging,
        _ => Planted::NewAccessKey,
    })
}

/// The random numbers of file number `file`.
fn file_rng(seed: u64, file: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E3779B97F4A7C15) ^ file)
}

/// Writes file number `file`; its first events issue the started sessions
/// `issues` ([`sessions::assigned`]).
fn write_file(
    spec: &Spec,
    file: u64,
    files: u64,
    bounds: &[DateTime<Utc>],
    issues: &[usize],
) -> Result<u64> {
    let mut rng = file_rng(spec.seed, file);
    let account = *pick(&mut rng, &ACCOUNTS);
    let region = *pick(&mut rng, &REGIONS);
    // The file's events spread over its whole stretch of time (busy hours have short
    // stretches, so more events per minute).
    let base = bounds[file as usize];
    let slot = (bounds[file as usize + 1] - base).num_seconds().max(1);
    let slot = spec
        .file_span_seconds
        .map_or(slot, |s| slot.min(i64::from(s)).max(1));
    let count = EVENTS_PER_FILE.min(spec.events - file * EVENTS_PER_FILE);
    let mut times: Vec<i64> = (0..count).map(|_| rng.random_range(0..slot)).collect();
    times.sort_unstable();
    let plant = planted(file, files);
    // A planted incident is a burst: its events come within the first minute of the
    // file's stretch (as an attacker's script makes them), not spread over it.
    if plant.is_some() {
        for (i, t) in times.iter_mut().take(30).enumerate() {
            *t = (*t).min(i as i64 * 2);
        }
        times.sort_unstable();
    }
    let mut body = String::with_capacity(count as usize * 1400);
    body.push_str("{\"Records\":[");
    for (i, dt) in times.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let t = (base + Duration::seconds(*dt))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let special = plant.filter(|_| i < 30);
        let issue = issues.get(i).copied().filter(|_| special.is_none());
        event(
            &mut body,
            &mut rng,
            account,
            region,
            &t,
            (special, issue),
            i,
        );
    }
    body.push_str("]}");
    let day = base.format("%Y/%m/%d");
    let dir = spec
        .out
        .join(format!("AWSLogs/{account}/CloudTrail/{region}/{day}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!(
        "{account}_CloudTrail_{region}_{}_{:016X}.json.gz",
        base.format("%Y%m%dT%H%MZ"),
        rng.random::<u64>()
    );
    write_gz(&dir.join(name), body.as_bytes())
}

fn write_gz(path: &Path, data: &[u8]) -> Result<u64> {
    let mut e = GzEncoder::new(Vec::with_capacity(data.len() / 8), Compression::new(6));
    e.write_all(data)?;
    let bytes = e.finish()?;
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes.len() as u64)
}

fn event(
    out: &mut String,
    rng: &mut ChaCha8Rng,
    account: &str,
    region: &str,
    time: &str,
    (special, issue): (Option<Planted>, Option<usize>),
    i: usize,
) {
    let mut a = actor(rng, account);
    // Principals keep to their habits: most of their calls go to three of the
    // everyday services (which three depends on who they are), and within a service
    // to its common calls.
    let everyday = SERVICES.len().min(8);
    let pick_service = if rng.random_range(0..100) < 70 {
        (a.habit + skewed(rng, 3) * 3) % everyday
    } else {
        skewed(rng, SERVICES.len())
    };
    let (service, names) = SERVICES[pick_service];
    let mut name = names[skewed(rng, names.len())];
    if let Some((_, keep)) = RARE.iter().find(|(n, _)| *n == name)
        && rng.random_range(0..*keep) != 0
    {
        name = names[0];
    }
    let mut service = service;
    let mut error: Option<(&str, &str)> = None;
    if rng.random_range(0..100) < 4 {
        error = Some(ERRORS[skewed(rng, ERRORS.len())]);
    }
    let mut extra = String::new();
    match special {
        Some(Planted::SecretBurst) => {
            service = "secretsmanager";
            name = "GetSecretValue";
            error = None;
            a.identity = format!(
                r#"{{"type":"IAMUser","principalId":"AIDAEXFILTRATOR0001","arn":"arn:aws:iam::{account}:user/mallory","accountId":"{account}","accessKeyId":"AKIAEXFILTRATOR00001","userName":"mallory"}}"#
            );
            a.ip = "203.0.113.66".into();
        }
        Some(Planted::FailedLogins) => {
            service = "signin";
            name = "ConsoleLogin";
            error = None;
            a.ip = "198.51.100.23".into();
            a.agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0";
            a.identity = format!(
                r#"{{"type":"IAMUser","principalId":"AIDAVICTIM0000000001","accountId":"{account}","userName":"victor"}}"#
            );
            extra = r#","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},"errorMessage":"Failed authentication""#.into();
        }
        Some(Planted::RootLogin) if i == 0 => {
            service = "signin";
            name = "ConsoleLogin";
            error = None;
            a.identity = format!(
                r#"{{"type":"Root","principalId":"{account}","arn":"arn:aws:iam::{account}:root","accountId":"{account}"}}"#
            );
            extra = r#","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"}"#.into();
        }
        Some(Planted::StopLogging) if i == 0 => {
            service = "cloudtrail";
            name = "StopLogging";
            error = None;
        }
        Some(Planted::NewAccessKey) if i == 0 => {
            service = "iam";
            name = "CreateAccessKey";
            error = None;
        }
        _ => {}
    }
    if name == "ConsoleLogin" && extra.is_empty() {
        service = "signin";
        let ok = error.is_none();
        extra = format!(
            r#","responseElements":{{"ConsoleLogin":"{}"}},"additionalEventData":{{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"{}"}}"#,
            if ok { "Success" } else { "Failure" },
            if rng.random_range(0..2) == 0 {
                "Yes"
            } else {
                "No"
            }
        );
        if !ok {
            extra.push_str(r#","errorMessage":"Failed authentication""#);
            error = None;
        }
    }
    let mut issued = None;
    let random_issue = service == "sts"
        && matches!(
            name,
            "AssumeRole" | "AssumeRoleWithSAML" | "AssumeRoleWithWebIdentity"
        );
    if special.is_none() && (issue.is_some() || random_issue) {
        service = "sts";
        let i = sessions::issue(rng, account, time, issue);
        name = i.call;
        error = None;
        a.identity = i.identity.clone();
        extra = format!(r#","responseElements":{}"#, i.response);
        issued = Some(i);
    }
    let source = format!("{service}.amazonaws.com");
    let (mut params, mut resources) = resource(service, name, account, region, rng);
    if let Some(i) = issued {
        params = i.request;
        resources = i.resources;
    }
    if special == Some(Planted::SecretBurst) {
        params = r#"{"secretId":"TopSecretInfo"}"#.into();
        resources = format!(
            r#"[{{"accountId":"{account}","type":"AWS::SecretsManager::Secret","ARN":"arn:aws:secretsmanager:{region}:{account}:secret:TopSecretInfo-AbCdEf"}}]"#
        );
    }
    let ro = read_only(name);
    let management = !matches!(
        (service, name),
        (
            "s3",
            "GetObject" | "PutObject" | "HeadObject" | "DeleteObject"
        ) | ("lambda", "Invoke")
            | ("dynamodb", "GetItem")
    );
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.09","userIdentity":{},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{}","userAgent":"{}""#,
        a.identity, a.ip, a.agent
    );
    if let Some((code, msg)) = error {
        let _ = write!(out, r#","errorCode":"{code}","errorMessage":"{msg}""#);
    }
    let _ = write!(out, r#","requestParameters":{params}"#);
    if extra.is_empty() {
        out.push_str(r#","responseElements":null"#);
    }
    out.push_str(&extra);
    let _ = write!(
        out,
        r#","requestID":"{}","eventID":"{}","readOnly":{ro},"eventType":"{}","managementEvent":{management},"recipientAccountId":"{account}","eventCategory":"{}""#,
        uuid(rng),
        uuid(rng),
        if name == "ConsoleLogin" {
            "AwsConsoleSignIn"
        } else {
            "AwsApiCall"
        },
        if management { "Management" } else { "Data" }
    );
    if !resources.is_empty() {
        let _ = write!(out, r#","resources":{resources}"#);
    }
    if a.agent != "console.amazonaws.com" && !a.ip.ends_with(".amazonaws.com") {
        let _ = write!(
            out,
            r#","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{service}.{region}.amazonaws.com"}}"#
        );
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_picks_every_index_and_favours_the_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1usize, 2, 4, 10] {
            let mut seen = vec![0usize; n];
            for _ in 0..20_000 {
                seen[skewed(&mut rng, n)] += 1;
            }
            assert!(seen.iter().all(|&c| c > 0), "{n}: {seen:?}");
            assert!(seen[0] >= seen[n - 1], "{n}: {seen:?}");
        }
    }

    #[test]
    fn output_is_deterministic_and_valid() {
        let end = DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let gen_to = |dir: &Path| {
            generate(&Spec {
                file_span_seconds: None,
                out: dir.to_path_buf(),
                events: 2500,
                seed: 7,
                end,
                days: 3,
            })
            .unwrap();
            let mut files: Vec<(String, Vec<u8>)> = walk(dir);
            files.sort();
            files
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let fa = gen_to(a.path());
        assert_eq!(fa.len(), 3);
        assert_eq!(fa, gen_to(b.path()));
        let mut total = 0;
        for (_, bytes) in &fa {
            let doc = auditwatch_event::decode::decode(bytes, 1 << 30).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            total += v["Records"].as_array().unwrap().len();
        }
        assert_eq!(total, 2500);
    }

    fn walk(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap_or(&p).display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
        out
    }
}
