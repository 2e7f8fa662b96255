//! A response body that makes its frames over time, a service answering with it, and
//! a reader that polls a body to its end (the `tower` layers' tests).

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

/// A response body that makes its frames one at a time, `gap` apart (a stream, as
/// server-sent events or a gRPC stream are), calling `on_frame` as it makes each.
pub struct Streamed {
    frames: std::collections::VecDeque<Result<http_body::Frame<&'static [u8]>, std::io::Error>>,
    gap: std::time::Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    on_frame: Arc<dyn Fn() + Send + Sync>,
    // Says it has ended once its frames are out (a stream of unknown length never
    // does: it ends with a last poll that gives `None`).
    says_end: bool,
    // Panics when its frames are out.
    panics: bool,
    // Called when the body is dropped.
    on_drop: Option<Arc<dyn Fn() + Send + Sync>>,
    // Called by the poll that finds the frames out.
    on_end: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(on_drop) = &self.on_drop {
            on_drop();
        }
    }
}

impl Streamed {
    pub fn new(gap_ms: u64, on_frame: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            frames: Default::default(),
            gap: std::time::Duration::from_millis(gap_ms),
            sleep: None,
            on_frame,
            says_end: true,
            panics: false,
            on_drop: None,
            on_end: None,
        }
    }

    /// Calls `on_drop` when dropped (what is current then, say).
    pub fn on_drop(mut self, on_drop: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.on_drop = Some(on_drop);
        self
    }

    /// Calls `on_end` in the poll that finds the frames out (what is current then).
    pub fn on_end(mut self, on_end: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.on_end = Some(on_end);
        self
    }

    /// A stream that never says it has ended (as `Body::from_stream`).
    pub fn unknown_end(mut self) -> Self {
        self.says_end = false;
        self
    }

    /// Panics where its frames run out.
    pub fn then_panic(mut self) -> Self {
        self.panics = true;
        self
    }

    pub fn data(mut self, bytes: &'static [u8]) -> Self {
        self.frames.push_back(Ok(http_body::Frame::data(bytes)));
        self
    }

    pub fn trailers(mut self, name: &'static str, value: &'static str) -> Self {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(name, http::HeaderValue::from_static(value));
        self.frames
            .push_back(Ok(http_body::Frame::trailers(trailers)));
        self
    }

    /// Ends with trailers of several fields.
    pub fn trailer_fields(mut self, fields: &[(&'static str, &'static str)]) -> Self {
        let mut trailers = http::HeaderMap::new();
        for (name, value) in fields {
            trailers.insert(*name, http::HeaderValue::from_static(value));
        }
        self.frames
            .push_back(Ok(http_body::Frame::trailers(trailers)));
        self
    }

    pub fn error(mut self) -> Self {
        self.frames
            .push_back(Err(std::io::Error::other("stream broke")));
        self
    }
}

impl http_body::Body for Streamed {
    type Data = &'static [u8];
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<&'static [u8]>, std::io::Error>>> {
        let gap = self.gap;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        let frame = self.frames.pop_front();
        if frame.is_none() && self.panics {
            panic!("a stream bug");
        }
        if let (None, Some(on_end)) = (&frame, &self.on_end) {
            on_end();
        }
        if frame.is_some() {
            (self.on_frame)();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.says_end && self.frames.is_empty()
    }
}

/// A service that answers each request with the body `make` gives it.
#[derive(Clone)]
pub struct BodyService<F>(pub F);

impl<F: FnMut(&http::Request<()>) -> http::Response<Streamed>> Service<http::Request<()>>
    for BodyService<F>
{
    type Response = http::Response<Streamed>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Streamed>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> Self::Future {
        std::future::ready(Ok((self.0)(&request)))
    }
}

/// Polls `body` to its end (as a server sends it), returning the frames it made.
pub async fn send<B: http_body::Body + Unpin>(
    body: &mut B,
) -> Vec<Result<http_body::Frame<B::Data>, B::Error>> {
    let mut frames = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        frames.push(frame);
    }
    frames
}
