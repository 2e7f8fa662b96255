//! picotrace-std's `ServerLayer::with_grpc` on a real tonic server and `ClientLayer` on
//! a real tonic `Channel`, over TCP (HTTP/2): one trace per call, the client span the
//! server span's parent, both named `{package.Service}/{Method}` with their
//! `rpc.grpc.status_code`; an error `Status` with its message as the description; a
//! server stream's spans open until its last message; a call past its `grpc-timeout`
//! DEADLINE_EXCEEDED on the server. The service is what tonic's code generator writes
//! for a unary and a server-streaming method, by hand (no `protoc` in the build).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use picotrace::SpanKind;
use picotrace_std::{ClientLayer, FutureExt as _, ServerLayer, TracerProvider};
use tower_layer::Layer as _;

// The exporter std-adapter's tests keep spans with (its sampler is not used here).
#[allow(dead_code)]
#[path = "../../../std-adapter/tests/support/kept.rs"]
mod kept;

use kept::Seen;

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(uint32, tag = "2")]
    count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

const SAY_HELLO: &str = "/hello.v1.Greeter/SayHello";
const SAY_HELLOS: &str = "/hello.v1.Greeter/SayHellos";

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type ReplyStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<HelloReply, tonic::Status>> + Send>>;

/// `SayHello`: "kaboom" fails INTERNAL, "slow" answers after 300 ms; `SayHellos`:
/// `count` replies 30 ms apart.
#[derive(Clone)]
struct Greeter;

struct SayHello;

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Result<tonic::Response<HelloReply>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            let name = request.into_inner().name;
            match name.as_str() {
                "kaboom" => Err(tonic::Status::internal("kaboom: the oven ✓ broke")),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(2000)).await;
                    Ok(tonic::Response::new(HelloReply { message: name }))
                }
                _ => Ok(tonic::Response::new(HelloReply {
                    message: format!("hello {name}"),
                })),
            }
        })
    }
}

struct SayHellos;

impl tonic::server::ServerStreamingService<HelloRequest> for SayHellos {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = BoxFuture<Result<tonic::Response<ReplyStream>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            let count = request.into_inner().count;
            let replies = futures_util::stream::unfold(0, move |i| async move {
                if i == count {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                Some((
                    Ok(HelloReply {
                        message: format!("{i}"),
                    }),
                    i + 1,
                ))
            });
            Ok(tonic::Response::new(Box::pin(replies) as ReplyStream))
        })
    }
}

impl<B> tower_service::Service<http::Request<B>> for Greeter
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    B::Data: Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let codec = tonic_prost::ProstCodec::<HelloReply, HelloRequest>::default;
        match request.uri().path() {
            SAY_HELLO => Box::pin(async move {
                Ok(tonic::server::Grpc::new(codec())
                    .unary(SayHello, request)
                    .await)
            }),
            SAY_HELLOS => Box::pin(async move {
                Ok(tonic::server::Grpc::new(codec())
                    .server_streaming(SayHellos, request)
                    .await)
            }),
            _ => Box::pin(async move {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    tonic::Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            }),
        }
    }
}

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "hello.v1.Greeter";
}

fn path(p: &'static str) -> http::uri::PathAndQuery {
    http::uri::PathAndQuery::from_static(p)
}

fn hello(name: &str, count: u32) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
        count,
    }
}

#[test]
fn tonic_calls_are_traced_on_both_sides() {
    let (provider, kept) = kept::provider("tonic");
    let provider: &'static TracerProvider = Box::leak(Box::new(provider));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (caller, streamed_for) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(ServerLayer::new(provider).with_grpc())
                .add_service(Greeter)
                .serve_with_incoming(incoming),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let channel = ClientLayer::new(provider)
            .with_server("127.0.0.1", addr.port())
            .layer(channel);
        let mut grpc = tonic::client::Grpc::new(channel);
        let codec = tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default;

        let caller = provider.tracer().start_server_span("caller", None);
        let context = caller.trace_context();
        let streamed_for = async {
            grpc.ready().await.unwrap();
            let reply = grpc
                .unary(
                    tonic::Request::new(hello("ada", 0)),
                    path(SAY_HELLO),
                    codec(),
                )
                .await
                .unwrap();
            assert_eq!(reply.into_inner().message, "hello ada");

            grpc.ready().await.unwrap();
            let failed = grpc
                .unary(
                    tonic::Request::new(hello("kaboom", 0)),
                    path(SAY_HELLO),
                    codec(),
                )
                .await
                .unwrap_err();
            assert_eq!(failed.code(), tonic::Code::Internal);

            grpc.ready().await.unwrap();
            let started = std::time::Instant::now();
            let mut stream = grpc
                .server_streaming(tonic::Request::new(hello("", 3)), path(SAY_HELLOS), codec())
                .await
                .unwrap()
                .into_inner();
            let mut got = Vec::new();
            while let Some(reply) = stream.message().await.unwrap() {
                got.push(reply.message);
            }
            assert_eq!(got, ["0", "1", "2"]);
            let streamed_for = started.elapsed();

            // A deadline the handler outlasts: tonic's server gives up on it.
            grpc.ready().await.unwrap();
            let mut slow = tonic::Request::new(hello("slow", 0));
            // Long enough that a loaded machine's delays fall inside the tenth of it
            // the server takes the deadline early by (found by review: 50 ms, a 5 ms
            // margin, could read CANCELLED).
            slow.set_timeout(Duration::from_millis(500));
            let late = grpc
                .unary(slow, path(SAY_HELLO), codec())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    late.code(),
                    tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
                ),
                "{late:?}"
            );
            streamed_for
        }
        .with_context(context)
        .await;
        // The server span of the slow call ends when tonic drops its future: waited
        // for (5 s at most), not slept on.
        let waited = std::time::Instant::now();
        while waited.elapsed() < Duration::from_secs(5) {
            provider.flush().unwrap();
            if kept.0.lock().unwrap().len() == 8 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (caller, streamed_for)
    });
    caller.end();
    provider.flush().unwrap();
    let spans: Vec<Seen> = kept.0.lock().unwrap().clone();
    let of = |kind: SpanKind| -> Vec<&Seen> { spans.iter().filter(|s| s.kind == kind).collect() };
    let (servers, clients) = (of(SpanKind::Server), of(SpanKind::Client));
    // The caller, and a server span per call.
    assert_eq!(servers.len(), 5, "{spans:#?}");
    assert_eq!(clients.len(), 4, "{spans:#?}");
    let caller = *servers.iter().find(|s| s.name == "caller").unwrap();
    let servers: Vec<&Seen> = servers.into_iter().filter(|s| s.name != "caller").collect();
    for client in &clients {
        assert_eq!(client.trace_id, caller.trace_id);
        assert_eq!(client.parent.as_deref(), Some(caller.span_id.as_str()));
        assert_eq!(client.attr("rpc.system"), Some("grpc"));
        assert_eq!(client.attr("rpc.service"), Some("hello.v1.Greeter"));
        let server = servers
            .iter()
            .find(|s| s.parent.as_deref() == Some(client.span_id.as_str()))
            .unwrap_or_else(|| panic!("no server span under {client:#?}"));
        assert_eq!(server.trace_id, caller.trace_id);
        assert_eq!(server.name, client.name);
        assert_eq!(server.attr("rpc.method"), client.attr("rpc.method"));
    }
    let code = |s: &Seen| s.attr("rpc.grpc.status_code").map(str::to_owned);
    let by_order = |spans: &[&Seen]| -> Vec<(String, Option<String>, String)> {
        let mut v: Vec<_> = spans.iter().map(|s| (s.start, *s)).collect();
        v.sort_by_key(|(start, _)| *start);
        v.into_iter()
            .map(|(_, s)| (s.name.clone(), code(s), s.status.clone()))
            .collect()
    };
    let ok = "Unset".to_owned();
    let kaboom = r#"Error { description: "kaboom: the oven ✓ broke" }"#.to_owned();
    let hello = || "hello.v1.Greeter/SayHello".to_owned();
    let hellos = || "hello.v1.Greeter/SayHellos".to_owned();
    let n = |c: &str| Some(c.to_owned());
    assert_eq!(
        by_order(&servers),
        [
            (hello(), n("0"), ok.clone()),
            (hello(), n("13"), kaboom.clone()),
            (hellos(), n("0"), ok.clone()),
            (hello(), n("4"), r#"Error { description: "" }"#.to_owned()),
        ],
        "{spans:#?}"
    );
    let mut clients_seen = by_order(&clients);
    // The slow call: the client's own deadline (DEADLINE_EXCEEDED) or tonic's server
    // answering first, with the CANCELLED "Timeout expired" its timeout layer sends
    // (tonic's mapping; the server's span says what passed, DEADLINE_EXCEEDED): whichever
    // reaches the client first (found in CI: either does), an Error.
    let late = clients_seen.pop().expect("the slow call's client span");
    assert!(
        late == (hello(), n("4"), r#"Error { description: "" }"#.to_owned())
            || late
                == (
                    hello(),
                    n("1"),
                    r#"Error { description: "Timeout expired" }"#.to_owned()
                ),
        "{late:?}"
    );
    assert_eq!(
        clients_seen,
        [
            (hello(), n("0"), ok.clone()),
            (hello(), n("13"), kaboom),
            (hellos(), n("0"), ok),
        ],
        "{spans:#?}"
    );
    // The stream's spans last until its last message (three, 30 ms apart).
    for span in servers
        .iter()
        .chain(&clients)
        .filter(|s| s.name == hellos())
    {
        let lasted = Duration::from_nanos(span.end - span.start);
        assert!(lasted >= Duration::from_millis(60), "{span:#?}");
        assert!(
            lasted <= streamed_for + Duration::from_millis(50),
            "{span:#?}"
        );
    }
}
