//! The server side of HTTP telemetry, after the stable OpenTelemetry HTTP
//! semantic conventions: the request span, the `http.server.request.duration`
//! histogram and the access log line.
//!
//! The request span is built here rather than by tracing-actix-web's
//! `root_span!`, which adds the legacy attribute names (`http.method`,
//! `http.target`, `http.status_code`…) beside any others. So the caller's
//! trace context is extracted here too.
//!
//! A request ends when its response body has been handed to the connection to
//! its last byte (or dropped: the client went away), not when the handler
//! returns its headers: [`Exchange`] travels inside the response body and
//! records the duration, the body sizes and the access log line then.

use std::borrow::Cow;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode, Version};
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::stream::Stream;
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the access log lines. The span layer ignores it (see
/// `telemetry::init`): the line is a log record of the request, not an event
/// of its span.
pub const ACCESS_LOG_TARGET: &str = "parquetry::access";

/// `error.type` of a request whose response did not reach its end: the
/// client went away, or the body failed while it was being sent.
const ABORTED: &str = "aborted";

/// How a request was answered, as the span and the metric record it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: StatusCode,
    /// Set for a 5xx: what `error.type` says, and the exception event.
    pub failure: Option<Failure>,
}

/// A server-side failure (5xx).
#[derive(Debug, Clone)]
pub struct Failure {
    /// `error.type`: a low-cardinality identifier (the problem `code` of the
    /// answer, or the status code as a string).
    pub error_type: Cow<'static, str>,
    /// `exception.message` of the exception event, when an error was raised;
    /// must not carry the user's data.
    pub message: Option<String>,
}

/// The method as `http.request.method` names it: one of the well-known
/// methods, or `_OTHER` (the original goes in `http.request.method_original`).
fn known_method(method: &Method) -> Option<&'static str> {
    Some(match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => return None,
    })
}

/// `network.protocol.version`.
fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Host and port of a `Host` header (or of `Forwarded: host=`), an IPv6
/// address without its brackets.
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (
                address,
                tail.strip_prefix(':').and_then(|port| port.parse().ok()),
            ),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// The SERVER span of one request, child of the caller's span when the
/// request carries a `traceparent`.
///
/// Recorded later: `http.response.status_code` and `error.type` by
/// [`record_outcome`]; `http.request.body.size` and
/// `http.response.body.size` by [`Exchange`] once the body has ended, through
/// the OpenTelemetry API rather than as fields, so that a handler's
/// `record` of them cannot add a second, earlier value (the SDK would
/// export both).
pub fn request_span(request: &ServiceRequest) -> Span {
    let method = known_method(request.method());
    let route = request.match_pattern();
    // `{method} {http.route}`, `HTTP` for a method the conventions do not
    // know, and no route when none matched.
    let name_method = method.unwrap_or("HTTP");
    let name = match &route {
        Some(route) => format!("{name_method} {route}"),
        None => name_method.to_string(),
    };
    let info = request.connection_info();
    let (host, port) = split_host_port(info.host());
    let port = port.or_else(|| default_port(info.scheme()));
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.unwrap_or("_OTHER"),
        http.request.method_original = Empty,
        http.route = route.as_deref(),
        url.path = request.path(),
        url.query = Empty,
        url.scheme = info.scheme(),
        server.address = host,
        server.port = port.map(i64::from),
        client.address = info.realip_remote_addr(),
        user_agent.original = Empty,
        network.protocol.version = protocol_version(request.version()),
        http.response.status_code = Empty,
        error.type = Empty,
    );
    drop(info);
    if method.is_none() {
        span.record("http.request.method_original", request.method().as_str());
    }
    if !request.query_string().is_empty() {
        span.record("url.query", redacted_query(request.query_string()).as_ref());
    }
    if let Some(agent) = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        span.record("user_agent.original", agent);
    }
    let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when the span is already started, which it cannot be yet.
    let _ = span.set_parent(caller);
    span
}

/// Records the status, and for a 5xx `error.type`, the span status Error and
/// the exception event. Below 500 the span status stays unset, as the
/// conventions ask of a server span.
pub fn record_outcome(span: &Span, outcome: &Outcome) {
    span.record(
        "http.response.status_code",
        i64::from(outcome.status.as_u16()),
    );
    let Some(failure) = &outcome.failure else {
        return;
    };
    span.record("error.type", failure.error_type.as_ref());
    if let Some(message) = &failure.message {
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", failure.error_type.to_string()),
                KeyValue::new("exception.message", message.clone()),
            ],
        );
    }
    span.set_status(Status::error(
        failure
            .message
            .clone()
            .unwrap_or_else(|| failure.error_type.to_string()),
    ));
}

/// The request body as it is read, counting its bytes.
struct CountedPayload {
    inner: Payload,
    received: Rc<Cell<u64>>,
}

impl Stream for CountedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.received.set(self.received.get() + chunk.len() as u64);
        }
        polled
    }
}

/// One request from its arrival to the end of its response body. Dropping it
/// records the duration histogram, the body sizes on the span and the access
/// log line.
pub struct Exchange {
    started: Instant,
    span: Span,
    histogram: Option<Histogram<f64>>,
    method: &'static str,
    route: Option<String>,
    path: String,
    scheme: String,
    version: &'static str,
    head: bool,
    declared_length: Option<u64>,
    received: Rc<Cell<u64>>,
    outcome: Option<Outcome>,
    /// `BodySize::Sized` of the response body.
    expected: Option<u64>,
    sent: u64,
    complete: bool,
}

impl Exchange {
    /// Starts the clock and counts the request body as the handler reads it.
    /// `span` is the request span; `histogram` is
    /// `http.server.request.duration`, if the application has one.
    pub fn begin(
        request: &mut ServiceRequest,
        span: Span,
        histogram: Option<Histogram<f64>>,
    ) -> Exchange {
        let received = Rc::new(Cell::new(0));
        match request.take_payload() {
            Payload::None => {}
            inner => {
                let counted = CountedPayload {
                    inner,
                    received: received.clone(),
                };
                let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
                    Box::pin(counted);
                request.set_payload(Payload::from(stream));
            }
        }
        let declared_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Exchange {
            started: Instant::now(),
            span,
            histogram,
            method: known_method(request.method()).unwrap_or("_OTHER"),
            route: request.match_pattern(),
            path: request.path().to_string(),
            scheme: request.connection_info().scheme().to_string(),
            version: protocol_version(request.version()),
            head: request.method() == Method::HEAD,
            declared_length,
            received,
            outcome: None,
            expected: None,
            sent: 0,
            complete: false,
        }
    }

    /// The response, its body wrapped so that the exchange ends with it.
    pub fn respond<B: MessageBody + 'static>(
        mut self,
        response: ServiceResponse<B>,
        outcome: Outcome,
    ) -> ServiceResponse<ObservedBody> {
        self.outcome = Some(outcome);
        let response = response.map_into_boxed_body();
        match response.response().body().size() {
            BodySize::None | BodySize::Sized(0) => self.complete = true,
            BodySize::Sized(length) => self.expected = Some(length),
            BodySize::Stream => {}
        }
        response.map_body(|_, body| ObservedBody {
            body,
            exchange: self,
        })
    }

    /// Ends an exchange whose response is an error for actix to render: it
    /// has no body of ours to follow.
    pub fn fail(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
        self.complete = true;
    }

    /// Bytes of the request body: those read, or if the handler read none,
    /// those the client announced.
    fn request_body_size(&self) -> Option<u64> {
        match self.received.get() {
            0 => self.declared_length,
            read => Some(read),
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let status = self.outcome.as_ref().map(|outcome| outcome.status);
        let mut error_type = self
            .outcome
            .as_ref()
            .and_then(|outcome| outcome.failure.as_ref())
            .map(|failure| failure.error_type.clone());
        if !self.complete && error_type.is_none() {
            // A network error sending the body makes the span an error
            // whatever its status code.
            error_type = Some(Cow::Borrowed(ABORTED));
            self.span.record("error.type", ABORTED);
            self.span
                .set_status(Status::error("the response was not sent to its end"));
        }
        let request_bytes = self.request_body_size();
        let response_bytes = if self.head { 0 } else { self.sent };
        if let Some(bytes) = request_bytes {
            self.span
                .set_attribute("http.request.body.size", bytes as i64);
        }
        self.span
            .set_attribute("http.response.body.size", response_bytes as i64);

        // Inside the span: the log line gets its trace id, and a histogram
        // sample its exemplar.
        let _entered = self.span.enter();
        if let Some(histogram) = &self.histogram {
            let mut attributes = vec![
                KeyValue::new("http.request.method", self.method),
                KeyValue::new("url.scheme", self.scheme.clone()),
                KeyValue::new("network.protocol.version", self.version),
            ];
            if let Some(route) = &self.route {
                attributes.push(KeyValue::new("http.route", route.clone()));
            }
            if let Some(status) = status {
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
            }
            if let Some(error_type) = &error_type {
                attributes.push(KeyValue::new("error.type", error_type.to_string()));
            }
            histogram.record(elapsed.as_secs_f64(), &attributes);
        }
        let status_code = status.map(|status| i64::from(status.as_u16()));
        let duration_ms = elapsed.as_micros() as f64 / 1000.0;
        let request_bytes = request_bytes.map(|bytes| bytes as i64);
        let response_bytes = response_bytes as i64;
        tracing::event!(
            name: "parquetry.http.access",
            target: ACCESS_LOG_TARGET,
            tracing::Level::INFO,
            {
                http.request.method = self.method,
                http.route = self.route.as_deref(),
                url.path = self.path.as_str(),
                http.response.status_code = status_code,
                error.type = error_type.as_deref(),
                duration_ms,
                http.request.body.size = request_bytes,
                http.response.body.size = response_bytes,
            },
            "request finished"
        );
    }
}

/// A response body that ends its [`Exchange`] when it ends.
pub struct ObservedBody {
    body: BoxBody,
    exchange: Exchange,
}

impl MessageBody for ObservedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_next(cx);
        let exchange = &mut this.exchange;
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                exchange.sent += chunk.len() as u64;
                if exchange
                    .expected
                    .is_some_and(|length| exchange.sent >= length)
                {
                    exchange.complete = true;
                }
            }
            Poll::Ready(None) => exchange.complete = true,
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }
}

/// The query string as the span shows it: a `callback_url`'s value becomes
/// `REDACTED`, as the conventions do for query parameters known to carry
/// secrets (a webhook URL often holds a token).
fn redacted_query(query: &str) -> std::borrow::Cow<'_, str> {
    if !query.contains("callback_url") {
        return query.into();
    }
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("callback_url", _)) => "callback_url=REDACTED",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join("&")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_split_for_names_ipv4_and_ipv6() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("127.0.0.1:3000"), ("127.0.0.1", Some(3000)));
        assert_eq!(split_host_port("[::1]:3000"), ("::1", Some(3000)));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(split_host_port("host:port"), ("host:port", None));
    }

    #[test]
    fn a_callback_urls_value_is_left_out_of_the_query() {
        assert_eq!(
            redacted_query("filename=a.csv&callback_url=https%3A%2F%2Fx%2F%3Ftoken%3Ds"),
            "filename=a.csv&callback_url=REDACTED"
        );
        assert_eq!(redacted_query("delimiter=%3B"), "delimiter=%3B");
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(known_method(&Method::GET), Some("GET"));
        assert_eq!(
            known_method(&Method::from_bytes(b"PROPFIND").unwrap()),
            None
        );
    }
}
