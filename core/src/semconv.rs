//! OpenTelemetry semantic-convention attribute keys for HTTP, databases, messaging,
//! exceptions and the service resource.
//!
//! The current stable names are the constants; older names are noted on each
//! (`http.method` became `http.request.method`, and so on). Backends index on these
//! names, so prefer them to ad-hoc keys.

/// `service.name`: the logical name of the service (resource attribute).
pub const SERVICE_NAME: &str = "service.name";
/// `service.version` (resource attribute).
pub const SERVICE_VERSION: &str = "service.version";
/// `service.namespace` (resource attribute).
pub const SERVICE_NAMESPACE: &str = "service.namespace";
/// `service.instance.id` (resource attribute).
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `telemetry.sdk.name` (resource attribute).
pub const TELEMETRY_SDK_NAME: &str = "telemetry.sdk.name";
/// `telemetry.sdk.language` (resource attribute).
pub const TELEMETRY_SDK_LANGUAGE: &str = "telemetry.sdk.language";
/// `telemetry.sdk.version` (resource attribute).
pub const TELEMETRY_SDK_VERSION: &str = "telemetry.sdk.version";

/// `http.request.method` (was `http.method`).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.response.status_code` (was `http.status_code`).
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template, e.g. `/users/{id}`.
pub const HTTP_ROUTE: &str = "http.route";
/// `http.request.body.size` (was `http.request_content_length`).
pub const HTTP_REQUEST_BODY_SIZE: &str = "http.request.body.size";
/// `http.request.resend_count`: the ordinal of a resent request (a retry, a redirect),
/// recorded only on resends (1 for the first).
pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
/// `url.full` (was `http.url`).
pub const URL_FULL: &str = "url.full";
/// `url.path`.
pub const URL_PATH: &str = "url.path";
/// `url.scheme`.
pub const URL_SCHEME: &str = "url.scheme";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";

/// `db.system.name` (was `db.system`).
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// `db.namespace` (was `db.name`).
pub const DB_NAMESPACE: &str = "db.namespace";
/// `db.query.text` (was `db.statement`).
pub const DB_QUERY_TEXT: &str = "db.query.text";
/// `db.operation.name`.
pub const DB_OPERATION_NAME: &str = "db.operation.name";

/// `messaging.system`.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// `messaging.destination.name` (was `messaging.destination`).
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// `messaging.operation.type`.
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";

/// The event name of a recorded exception.
pub const EXCEPTION_EVENT: &str = "exception";
/// `exception.type`.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// `exception.message`.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// `exception.stacktrace`.
pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";

/// `error.type`: a low-cardinality class of error on a failed operation.
pub const ERROR_TYPE: &str = "error.type";
