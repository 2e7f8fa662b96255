//! The current span of a task or a thread: [`InSpan`] (a `Future` wrapper in the spirit
//! of `tracing`'s `instrument`) makes a span current while its future is polled, on
//! whichever worker thread polls it; [`enter`] does the same for a block of sync code;
//! [`current_context`] reads it, so code deep in a call stack can start children or
//! inject headers without being handed the span (with the `tracing` feature, an entered
//! `tracing` span the layer records is current as well, whichever is innermost).
//!
//! ```
//! use picotrace_std::{current_context, FutureExt as _, TracerProvider};
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
//! # }
//! let provider = TracerProvider::builder().build();
//! let tracer = provider.tracer();
//! let request = tracer.start_server_span("GET /users", None);
//! let id = request.context().span_id;
//! let child_parent = block_on(
//!     async {
//!         // Anywhere below: the request span is current.
//!         let db = tracer.start_span_with_parent("SELECT", current_context().as_ref());
//!         db.context()
//!     }
//!     .in_span(request), // ends the span when the future completes
//! );
//! assert_eq!(current_context(), None);
//! # let _ = (id, child_parent);
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use picotrace::{Baggage, Span, SpanContext, TraceContext};

/// What is current on a thread: one entry per live guard, newest last. A guard removes
/// its own entry when dropped, wherever it is, so guards dropped out of the order they
/// were made in leave the newest live one current (as `tracing`'s span stack does),
/// rather than bringing back what one of them had replaced.
///
/// An entry's id is its place in the thread's [`next_order`]: the newest of these
/// scopes and of the `tracing` spans entered on the thread is then known.
struct Scopes<T> {
    entries: Vec<(u64, Option<T>)>,
}

impl<T> Scopes<T> {
    const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn push(&mut self, value: Option<T>) -> u64 {
        let id = next_order();
        self.entries.push((id, value));
        id
    }

    /// The order of the newest entry, if any.
    #[cfg(feature = "tracing")]
    fn newest(&self) -> Option<u64> {
        self.entries.last().map(|&(id, _)| id)
    }

    fn remove(&mut self, id: u64) {
        // The capacity stays: polls push and pop on every wake, and must not allocate.
        if let Some(i) = self.entries.iter().rposition(|(e, _)| *e == id) {
            self.entries.remove(i);
        }
    }

    fn current(&self) -> Option<&T> {
        self.entries.last().and_then(|(_, v)| v.as_ref())
    }
}

thread_local! {
    /// The last number [`next_order`] gave on this thread.
    static ORDER: Cell<u64> = const { Cell::new(0) };
}

/// Numbers what becomes current on this thread, in order: picotrace's scopes
/// ([`enter`], [`InSpan`] polls) and the `tracing` spans a layer sees entered, so that
/// [`current_context`] answers with the innermost of either kind.
pub(crate) fn next_order() -> u64 {
    ORDER
        .try_with(|order| {
            let next = order.get().wrapping_add(1);
            order.set(next);
            next
        })
        .unwrap_or(u64::MAX)
}

thread_local! {
    /// The current context of this thread: set while an [`InSpan`] future is polled
    /// or an [`enter`] guard lives.
    static CURRENT: RefCell<Scopes<TraceContext>> = const { RefCell::new(Scopes::new()) };
    /// The current baggage of this thread: set while a [`WithBaggage`] future is polled
    /// or a [`BaggageGuard`] lives, and while an [`InSpan`] or [`WithContext`] future
    /// that brought its own is polled.
    static BAGGAGE: RefCell<Scopes<Bag>> = const { RefCell::new(Scopes::new()) };
}

/// Current baggage (or none, hiding any around it) and how it came to be current.
/// Every entry is a `Bag`: a scope of "no baggage" made on purpose (a request that
/// brought none, `hide_current`) is told apart from one a future captured (found by
/// review: it had no flag, and a future's captured baggage won over it).
struct Bag {
    baggage: Option<Arc<Baggage>>,
    /// Brought back by an [`InSpan`] or [`WithContext`] future: the baggage current
    /// where it was made. Another such future's wins over it (each keeps its own
    /// request's, found by review: a job made in one request and awaited by a worker
    /// made in another took the worker's); baggage made current on purpose
    /// ([`enter_baggage`], [`FutureExt::with_baggage`], a server layer's request) wins
    /// over captured baggage.
    captured: bool,
}

/// Makes `value` current in `scopes`; the id removes it again (`None`: the thread is
/// tearing down its locals, and nothing was made current).
fn push_scope<T: 'static>(
    scopes: &'static std::thread::LocalKey<RefCell<Scopes<T>>>,
    value: Option<T>,
) -> Option<u64> {
    scopes
        .try_with(|s| s.try_borrow_mut().ok().map(|mut s| s.push(value)))
        .ok()
        .flatten()
}

fn pop_scope<T: 'static>(
    scopes: &'static std::thread::LocalKey<RefCell<Scopes<T>>>,
    id: Option<u64>,
) {
    if let Some(id) = id {
        let _ = scopes.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.remove(id);
            }
        });
    }
}

/// Returns the current baggage (what the request brought, see
/// [`TracerProvider::extract`](crate::TracerProvider::extract)), if any is current.
pub fn current_baggage() -> Option<Arc<Baggage>> {
    BAGGAGE
        .try_with(|b| {
            b.try_borrow()
                .ok()
                .and_then(|b| b.current().and_then(|bag| bag.baggage.clone()))
        })
        .ok()
        .flatten()
}

/// Makes a future's captured baggage current again while it is polled (or dropped),
/// unless a scope made on purpose is current (see [`Bag::captured`]). A future made
/// where no baggage was current hides baggage another future captured: it has none
/// of its own (found by review: it took the awaiting future's). One look at the
/// thread's newest entry.
fn enter_captured_baggage(baggage: Option<&Arc<Baggage>>) -> Option<BaggageGuard> {
    // The newest entry: whether it was made on purpose, and whether it holds baggage.
    let newest = BAGGAGE
        .try_with(|b| {
            b.try_borrow().ok().and_then(|b| {
                b.current()
                    .map(|bag| (!bag.captured, bag.baggage.is_some()))
            })
        })
        .ok()
        .flatten();
    match (newest, baggage) {
        // Made on purpose: it wins.
        (Some((true, _)), _) => return None,
        // Nothing to hide, nothing to bring.
        (None | Some((false, false)), None) => return None,
        _ => {}
    }
    Some(BaggageGuard {
        id: push_scope(
            &BAGGAGE,
            Some(Bag {
                baggage: baggage.cloned(),
                captured: true,
            }),
        ),
        not_send: PhantomData,
    })
}

/// Keeps baggage current for a block of sync code; the previous one comes back on drop.
///
/// Not `Send`: the baggage is current on the thread that made the guard, so the guard
/// cannot be held across an `.await` of a multi-thread runtime (the task may resume on
/// another thread); use [`FutureExt::with_baggage`] for async code. Executors that do
/// not need `Send` futures (a current-thread runtime, `LocalSet`, `block_on`) accept a
/// guard held across an `.await`, and then the baggage stays current for the thread's
/// other tasks while this one waits, over the baggage their spans brought: do not.
/// Guards may be dropped in any order: the baggage of the newest live guard is current.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let baggage: picotrace::Baggage = picotrace::Baggage::parse("tenant=acme");
/// send(picotrace_std::enter_baggage(baggage));
/// ```
#[must_use = "the baggage is current only while the guard lives"]
#[derive(Debug)]
pub struct BaggageGuard {
    id: Option<u64>,
    not_send: PhantomData<*const ()>,
}

/// Makes `baggage` current on this thread until the guard is dropped (an empty
/// [`Baggage`] hides any baggage around it, and injection then removes a forwarded
/// `baggage` header).
pub fn enter_baggage(baggage: impl IntoSharedBaggage) -> BaggageGuard {
    enter_baggage_or_none(Some(baggage.into_shared()))
}

/// What [`enter_baggage`] and [`FutureExt::with_baggage`] take: a [`Baggage`], or one
/// already shared.
///
/// A `Baggage` holds its 8 KiB of room: shared, it is an 8 KiB allocation. Most requests
/// bring no baggage, and `with_baggage(incoming.baggage)` shares an empty bag the thread
/// keeps instead (no allocation per request). It is still an empty bag made current:
/// [`current_baggage`] returns it (so it goes with a spawned task or another thread),
/// and injection removes a forwarded `baggage` header, as clearing the baggage must.
pub trait IntoSharedBaggage {
    /// The baggage to make current.
    fn into_shared(self) -> Arc<Baggage>;
}

impl IntoSharedBaggage for Baggage {
    /// The thread's empty bag for one with no members that dropped none (a bag that
    /// dropped members is kept: [`current_baggage`] shows the count).
    fn into_shared(self) -> Arc<Baggage> {
        if self.is_empty() && self.dropped() == 0 {
            return empty_bag();
        }
        Arc::new(self)
    }
}

impl IntoSharedBaggage for Arc<Baggage> {
    fn into_shared(self) -> Arc<Baggage> {
        self
    }
}

impl IntoSharedBaggage for Box<Baggage> {
    fn into_shared(self) -> Arc<Baggage> {
        Arc::from(self)
    }
}

/// An empty bag, shared by what one thread makes current: one per thread, not one for
/// the process, whose reference count every worker would write at every poll (a
/// future clones the bag it makes current each time it is polled).
fn empty_bag() -> Arc<Baggage> {
    thread_local! {
        static EMPTY: Arc<Baggage> = Arc::new(Baggage::new());
    }
    EMPTY
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::new(Baggage::new()))
}

/// Makes `baggage` current, or no baggage at all for `None` (hiding any around it),
/// until the guard is dropped.
pub(crate) fn enter_baggage_or_none(baggage: Option<Arc<Baggage>>) -> BaggageGuard {
    BaggageGuard {
        id: push_scope(
            &BAGGAGE,
            Some(Bag {
                baggage,
                captured: false,
            }),
        ),
        not_send: PhantomData,
    }
}

impl Drop for BaggageGuard {
    fn drop(&mut self) {
        pop_scope(&BAGGAGE, self.id);
    }
}

/// Returns the current span's context (with its tracestate), if a span is current.
///
/// The current span is the innermost of those made current on this thread by
/// [`FutureExt::in_span`] or [`enter`] and, with the `tracing` feature, the `tracing`
/// spans a `TracingLayer` (`tracing_layer::TracingLayer`) records that are entered (an
/// `#[instrument]`ed function, `Span::enter`, `in_scope`).
pub fn current_context() -> Option<TraceContext> {
    #[cfg(feature = "tracing")]
    if let Some(cx) = crate::tracing_layer::entered_context_if_inner(newest_scope()) {
        return Some(cx);
    }
    own_current_context()
}

/// The context picotrace's own scopes make current ([`enter`], [`InSpan`]), whatever
/// `tracing` span is entered.
pub(crate) fn own_current_context() -> Option<TraceContext> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.current().cloned()))
        .ok()
        .flatten()
}

/// The order of the newest of picotrace's scopes on this thread.
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn newest_scope() -> Option<u64> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.newest()))
        .ok()
        .flatten()
}

/// Returns `true` when picotrace's own scopes make a span current on this thread;
/// cheaper than [`own_current_context`] when none is (nothing is copied).
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn has_own_current_context() -> bool {
    CURRENT
        .try_with(|c| c.try_borrow().is_ok_and(|c| c.current().is_some()))
        .unwrap_or(false)
}

/// Returns the current span's ids and flags, without its tracestate (the same span
/// as [`current_context`]).
pub fn current_span_context() -> Option<SpanContext> {
    #[cfg(feature = "tracing")]
    if let Some(cx) = crate::tracing_layer::entered_span_context_if_inner(newest_scope()) {
        return Some(cx);
    }
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|c| c.current().map(|cx| cx.span_context))
        })
        .ok()
        .flatten()
}

/// Keeps a span current for a block of sync code; the previous one comes back on drop.
///
/// Not `Send`: the span is current on the thread that made the guard, so the guard
/// cannot be held across an `.await` of a multi-thread runtime (the task may resume on
/// another thread, and the first one would keep the span current for other tasks); use
/// [`FutureExt::in_span`] for async code. Executors that do not need `Send` futures
/// (a current-thread runtime, `LocalSet`, `block_on`) accept a guard held across an
/// `.await`, and then the span stays current for the thread's other tasks while this
/// one waits: do not (as with `tracing`'s `Span::enter`). Guards may be dropped in any
/// order: the span of the newest live guard is current.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let provider = picotrace_std::TracerProvider::builder().build();
/// let span = provider.tracer().start_span("request");
/// send(picotrace_std::enter(&span));
/// ```
///
/// The guard holds a copy of the span's context, not the span: the span can still be
/// written while it is current (as `tracing`'s `Span::record` can be under `enter`),
/// and ending it first leaves its context current until the guard goes.
///
/// ```
/// let provider = picotrace_std::TracerProvider::builder().build();
/// let mut span = provider.tracer().start_span("import");
/// let guard = picotrace_std::enter(&span);
/// span.set_attribute("rows", 12_i64);
/// span.record_error(&std::fmt::Error);
/// drop(guard);
/// ```
///
/// Guards are `CurrentGuard<'static>`: they borrow nothing.
#[must_use = "the span is current only while the guard lives"]
#[derive(Debug)]
pub struct CurrentGuard<'s> {
    id: Option<u64>,
    not_send: PhantomData<*const ()>,
    span: PhantomData<&'s ()>,
}

/// Makes `span` current on this thread until the guard is dropped. A span without a
/// valid context (made while tracing is disabled) leaves the current one in place: its
/// guard changes nothing.
///
/// The guard does not borrow `span`: attributes, events and errors can be recorded on
/// the span while it is current. It holds a copy of the span's context, though: after
/// [`Span::set_parent`](picotrace::Span::set_parent) (a new trace id, perhaps a new
/// span id), enter the span again for children to follow it.
// (Found by review: the guard borrowed the span, and pushed a copy of the current
// context for a span without one, which stayed after its guard was dropped.)
pub fn enter(span: &Span<'_>) -> CurrentGuard<'static> {
    enter_context(span.trace_context())
}

/// Makes `cx` current on this thread until the guard is dropped: for sync code that
/// has a context but not its span, such as a `spawn_blocking` closure, a thread or a
/// rayon task given [`current_context`] of the request. Injection there writes `cx`
/// with its tracestate. An invalid `cx` changes nothing, as in [`enter`].
///
/// The baggage is not part of it: hand the closure [`current_baggage`] too and
/// [`enter_baggage`] it there, for injection there to send it (found by review: the
/// recipe lost the request's baggage).
///
/// ```
/// let provider = picotrace_std::TracerProvider::builder().build();
/// let span = provider.tracer().start_span("request");
/// let _request = picotrace_std::enter_baggage(picotrace::Baggage::parse("tenant=acme"));
/// let (cx, baggage) = (span.trace_context(), picotrace_std::current_baggage());
/// std::thread::spawn(move || {
///     let _guard = picotrace_std::enter_context(cx.clone());
///     let _baggage = baggage.map(picotrace_std::enter_baggage);
///     assert_eq!(picotrace_std::current_context(), Some(cx));
///     assert_eq!(picotrace_std::current_baggage().unwrap().as_str(), "tenant=acme");
/// })
/// .join()
/// .unwrap();
/// ```
pub fn enter_context(cx: TraceContext) -> CurrentGuard<'static> {
    if !cx.span_context.is_valid() {
        return CurrentGuard {
            id: None,
            not_send: PhantomData,
            span: PhantomData,
        };
    }
    make_current(Some(cx))
}

/// Hides the current context and baggage of this thread until the guards are dropped:
/// for code that runs on a traced thread on no request's behalf (a user's exporter).
pub(crate) fn hide_current() -> (CurrentGuard<'static>, BaggageGuard) {
    (make_current(None), enter_baggage_or_none(None))
}

/// Makes `cx` current until the guard is dropped (or unwound).
fn make_current<'s>(cx: Option<TraceContext>) -> CurrentGuard<'s> {
    CurrentGuard {
        id: push_scope(&CURRENT, cx),
        not_send: PhantomData,
        span: PhantomData,
    }
}

impl Drop for CurrentGuard<'_> {
    fn drop(&mut self) {
        pop_scope(&CURRENT, self.id);
    }
}

pin_project_lite::pin_project! {
    /// A future with a span that is current while it is polled and ends when it
    /// completes (or when the wrapper is dropped first). Made by [`FutureExt::in_span`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled: dropping it now ends the span at once"]
    pub struct InSpan<'t, F> {
        // `None` once complete; dropped in place (`Pin::set`) with the span current
        // when the wrapper is dropped first.
        #[pin]
        future: Option<F>,
        span: Option<Span<'t>>,
        context: Option<TraceContext>,
        // The baggage current where the future was made (a spawned task keeps its
        // request's baggage, as it keeps its span).
        baggage: Option<Arc<Baggage>>,
    }

    impl<'t, F> PinnedDrop for InSpan<'t, F> {
        fn drop(this: Pin<&mut Self>) {
            // A future dropped before it completes (a client gone, a `select!` branch
            // that lost, a timeout) runs its destructors with its span current, as
            // `tracing`'s `Instrumented` does: what they log or start has its parent.
            let mut this = this.project();
            if this.future.is_some() {
                let _current = this.context.clone().map(|cx| make_current(Some(cx)));
                let _baggage = enter_captured_baggage(this.baggage.as_ref());
                this.future.set(None);
            }
        }
    }
}

/// Sets a span's status to Error when the poll it guards unwinds: the runtime drops a
/// task whose poll panicked, which would end its span looking like a success. A poll
/// made while the thread was already unwinding (a `block_on` in a `Drop`) is not
/// blamed for that panic.
struct ErrorOnPanic<'a, 't>(&'a mut Option<Span<'t>>, bool);

impl<'a, 't> ErrorOnPanic<'a, 't> {
    fn new(span: &'a mut Option<Span<'t>>) -> Self {
        Self(span, std::thread::panicking())
    }
}

impl Drop for ErrorOnPanic<'_, '_> {
    fn drop(&mut self) {
        if !self.1 && std::thread::panicking() {
            // Unless a status was set: an Error's own description stays, as the core's
            // panic marking keeps it (found by review: it was replaced by "panicked").
            if let Some(span) = self.0.as_mut() {
                span.set_status_if_unset(picotrace::Status::Error {
                    description: "panicked",
                });
            }
        }
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("InSpan polled after it completed");
        };
        // A guard, so that a panicking poll (which a runtime catches, keeping the
        // worker thread) does not leave this span current for the thread's other tasks.
        // A span without a valid context (tracing disabled) leaves what is current as
        // it is, as `enter` does.
        let current = this.context.clone().map(|cx| make_current(Some(cx)));
        // The baggage it was made with: a spawned task has lost its request's, and a
        // future awaited by another task's keeps its own; a `with_baggage` around this
        // future (or the request's own, still current) wins over it.
        let baggage = enter_captured_baggage(this.baggage.as_ref());
        let on_panic = ErrorOnPanic::new(this.span);
        let poll = future.poll(cx);
        if poll.is_ready() {
            // What it still holds (a pending future a `timeout` kept) is dropped with
            // its span and baggage current, and a panic there is the span's error too
            // (found by review: the span ended Unset, as if it had succeeded).
            this.future.set(None);
        }
        drop(on_panic);
        drop(baggage);
        drop(current);
        if poll.is_ready() {
            // Ends now, so the span's duration is the future's.
            drop(this.span.take());
        }
        poll
    }
}

pin_project_lite::pin_project! {
    /// A future with a context that is current while it is polled, and while what it
    /// leaves is dropped (dropped before it completes, or holding a pending future when
    /// it completes, as `timeout` does). Made by [`FutureExt::with_context`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        // `None` once complete.
        #[pin]
        future: Option<F>,
        context: Option<TraceContext>,
        // The baggage current where the future was made, as `InSpan` keeps it.
        baggage: Option<Arc<Baggage>>,
    }

    impl<F> PinnedDrop for WithContext<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                let _current = this.context.clone().map(|cx| make_current(Some(cx)));
                let _baggage = enter_captured_baggage(this.baggage.as_ref());
                this.future.set(None);
            }
        }
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("WithContext polled after it completed");
        };
        // A guard: a panicking poll must not leave this context current (see `InSpan`).
        let current = this.context.clone().map(|cx| make_current(Some(cx)));
        // The baggage it was made with (see `InSpan`).
        let baggage = enter_captured_baggage(this.baggage.as_ref());
        let poll = future.poll(cx);
        if poll.is_ready() {
            // What it still holds is dropped with the context current.
            this.future.set(None);
        }
        drop(baggage);
        drop(current);
        poll
    }
}

pin_project_lite::pin_project! {
    /// A future with baggage that is current while it is polled, and while what it
    /// leaves is dropped (as [`WithContext`]). Made by [`FutureExt::with_baggage`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithBaggage<F> {
        // `None` once complete.
        #[pin]
        future: Option<F>,
        // `None`: no baggage current (a request that brought none: no bag and no
        // reference count per poll, and none from around it either).
        baggage: Option<Arc<Baggage>>,
    }

    impl<F> PinnedDrop for WithBaggage<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                let _current = enter_baggage_or_none(this.baggage.clone());
                this.future.set(None);
            }
        }
    }
}

impl<F> WithBaggage<F> {
    /// `future` with `baggage` current while it is polled (`None`: no baggage).
    pub(crate) fn new(future: F, baggage: Option<Arc<Baggage>>) -> Self {
        Self {
            future: Some(future),
            baggage,
        }
    }
}

impl<F: Future> Future for WithBaggage<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("WithBaggage polled after it completed");
        };
        // A guard: a panicking poll must not leave this baggage current (see `InSpan`).
        let current = enter_baggage_or_none(this.baggage.clone());
        let poll = future.poll(cx);
        if poll.is_ready() {
            this.future.set(None);
        }
        drop(current);
        poll
    }
}

/// Adds [`FutureExt::in_span`], [`FutureExt::with_context`] and
/// [`FutureExt::with_baggage`] to every future.
pub trait FutureExt: Future + Sized {
    /// Makes `cx` (a span's [`trace_context`](Span::trace_context)) current while this
    /// future is polled, as [`in_span`](FutureExt::in_span) does, while the caller
    /// keeps the span: a handler sets the response's status on its server span after
    /// the `.await`, then ends it. `None` (or an invalid context) leaves what is
    /// current as it is. The baggage current where this is *called* goes with the
    /// future, as in [`in_span`](FutureExt::in_span): call it where the request's
    /// baggage is current (outside a spawned task's body), or add
    /// [`with_baggage`](FutureExt::with_baggage).
    ///
    /// ```
    /// use picotrace_std::{current_span_context, FutureExt as _, TracerProvider};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
    /// # }
    /// let provider = TracerProvider::builder().build();
    /// let mut span = provider.tracer().start_server_span("GET /users", None);
    /// let status = block_on(
    ///     async {
    ///         assert!(current_span_context().is_some()); // the server span, below
    ///         200
    ///     }
    ///     .with_context(span.trace_context()),
    /// );
    /// span.set_attribute("http.response.status_code", status);
    /// span.set_ok();
    /// span.end();
    /// ```
    fn with_context(self, cx: impl Into<Option<TraceContext>>) -> WithContext<Self> {
        WithContext {
            future: Some(self),
            context: cx.into().filter(|cx| cx.span_context.is_valid()),
            baggage: current_baggage(),
        }
    }

    /// Makes `baggage` current while this future is polled ([`current_baggage`] reads
    /// it; [`TracerProvider::inject`](crate::TracerProvider::inject) sends it on). An
    /// empty [`Baggage`] (a request that brought none) is not allocated: the thread's
    /// empty bag is shared ([`IntoSharedBaggage`]).
    fn with_baggage(self, baggage: impl IntoSharedBaggage) -> WithBaggage<Self> {
        WithBaggage::new(self, Some(baggage.into_shared()))
    }

    /// Makes `span` current while this future is polled and ends it when the future
    /// completes. The span moves with the future across threads and `.await`s, and so
    /// does the baggage current where this is called ([`current_baggage`], or none),
    /// so that a spawned task keeps its request's baggage, and a future awaited by
    /// another keeps its own (baggage made current on purpose wins over it: a
    /// [`with_baggage`](FutureExt::with_baggage) around it, [`enter_baggage`], a server
    /// layer's request). Dropped before
    /// it completes, the future is dropped with the span current, and the span ends
    /// with the status it had (a `select!` branch that lost or a timeout is not an
    /// error in itself; `ServerLayer`'s server spans record a cancelled request as
    /// one); a poll that panics ends the span with an Error status (`panicked`), unless
    /// a status was set.
    ///
    /// A task spawned inside does not inherit the span: the context is current only
    /// while this future is polled, on the thread polling it. Give the task a span of
    /// its own (`.in_span(child)`), or the context (`.with_context(..)`). To set the
    /// span's status or attributes once the future is done (a server span's response
    /// status), keep the span and use [`with_context`](FutureExt::with_context).
    fn in_span(self, span: Span<'_>) -> InSpan<'_, Self> {
        let context = span.context().is_valid().then(|| span.trace_context());
        InSpan {
            future: Some(self),
            span: Some(span),
            context,
            baggage: current_baggage(),
        }
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TracerProvider;
    use std::collections::HashMap;

    fn block_on<F: Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// Yields once, so the future is polled twice.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    /// Polls `future` once (it must be pending), then drops it: a cancelled future.
    fn poll_once_then_drop<F: Future>(future: F) {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
    }

    /// Pending for ever, holding `held` until it is dropped.
    async fn pending_holding<D>(held: D) {
        let _held = held;
        std::future::pending::<()>().await;
    }

    /// The span current and whether baggage was, when it was dropped.
    type DropSeen = Arc<std::sync::Mutex<Option<(Option<picotrace::SpanId>, bool)>>>;

    /// Records into its `DropSeen` what was current when it was dropped.
    struct SeesOnDrop(DropSeen);

    impl Drop for SeesOnDrop {
        fn drop(&mut self) {
            let span = current_span_context().map(|c| c.span_id);
            *self.0.lock().unwrap() = Some((span, current_baggage().is_some()));
        }
    }

    /// Completes at once, keeping what it holds until it is dropped itself (as
    /// `timeout` keeps its pending future).
    struct KeepsInner<D>(Option<D>);

    impl<D: Unpin> Future for KeepsInner<D> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }

    /// An exporter that keeps the status of each span it gets.
    #[derive(Clone, Default)]
    struct Statuses(Arc<std::sync::Mutex<Vec<String>>>);

    impl picotrace::SpanExporter for Statuses {
        fn export(
            &mut self,
            batch: &picotrace::SpanBatch<'_>,
        ) -> Result<(), picotrace::ExportError> {
            let mut seen = self.0.lock().unwrap();
            seen.extend(batch.iter().map(|s| format!("{:?}", s.status())));
            Ok(())
        }
    }

    /// Guards dropped out of order: the newest live one is current, and nothing is
    /// left current once all are gone. Each used to bring back what it had replaced, so
    /// the first guard's span stayed current after both were dropped.
    #[test]
    fn guards_dropped_out_of_order_leave_the_newest_live_one_current() {
        let provider = TracerProvider::builder().build();
        let tracer = provider.tracer();
        let (a, b) = (tracer.start_span("a"), tracer.start_span("b"));
        let current = || current_span_context().map(|c| c.span_id);
        let first = enter(&a);
        let second = enter(&b);
        drop(first);
        assert_eq!(current(), Some(b.context().span_id));
        drop(second);
        assert_eq!(current(), None);

        let bag = |text: &str| Arc::new(Baggage::parse(text));
        let first = enter_baggage(bag("k=first"));
        let second = enter_baggage(bag("k=second"));
        drop(first);
        assert_eq!(current_baggage().unwrap().as_str(), "k=second");
        drop(second);
        assert!(current_baggage().is_none());
    }

    /// Regression (found by review): sync code with a context but not its span (a
    /// `spawn_blocking` closure) could not make it current; the one way round,
    /// `enter(&Span::non_recording(..))`, lost the tracestate.
    #[test]
    fn a_context_is_made_current_on_another_thread_with_its_tracestate() {
        let provider = TracerProvider::builder().build();
        let headers: HashMap<String, String> = [
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "vendor=kept"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let cx = provider
            .extract_context(&crate::HashMapCarrier(&headers))
            .expect("a valid context");
        assert_eq!(cx.trace_state.as_str(), "vendor=kept");
        let tracer = provider.tracer();
        let outgoing = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _guard = enter_context(cx.clone());
                    assert_eq!(current_context().as_ref(), Some(&cx));
                    let call = tracer.start_client_span("call", current_context().as_ref());
                    let mut out = HashMap::new();
                    provider.inject(&call, &mut crate::HashMapInjector(&mut out));
                    out
                })
                .join()
                .unwrap()
        });
        assert_eq!(outgoing["tracestate"], "vendor=kept");
        assert!(outgoing["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(current_context().is_none(), "only that thread's");
        // An invalid context changes nothing.
        let _guard = enter_context(TraceContext::from(picotrace::SpanContext::INVALID));
        assert!(current_context().is_none());
    }

    #[test]
    fn the_span_is_current_only_while_polled_and_ends_with_the_future() {
        let provider = TracerProvider::builder().build();
        let tracer = provider.tracer();
        let outer = tracer.start_span("outer");
        let outer_id = outer.context().span_id;
        let _guard = enter(&outer);
        let span = tracer.start_span("request");
        let id = span.context().span_id;
        let mut future = std::pin::pin!(async {
            let before = current_span_context().map(|c| c.span_id);
            YieldOnce(false).await;
            let after = current_span_context().map(|c| c.span_id);
            (before, after)
        }
        .in_span(span));
        // Between polls the outer span is current again (found by review: only the
        // end state was checked).
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(current_span_context().map(|c| c.span_id), Some(outer_id));
        let seen = block_on(future);
        assert_eq!(seen, (Some(id), Some(id)));
        assert_eq!(current_span_context().map(|c| c.span_id), Some(outer_id));
        drop(_guard);
        assert_eq!(current_context(), None);
        provider.flush().unwrap();
        assert_eq!(provider.stats().spans_exported, 1, "ended with the future");
    }

    #[test]
    fn baggage_is_current_only_while_polled_and_nests() {
        let outer = Baggage::parse("tier=gold");
        let guard = enter_baggage(outer);
        let inner = Baggage::parse("tenant=acme");
        let mut future = std::pin::pin!(async {
            let before = current_baggage().map(|b| b.as_str().to_owned());
            YieldOnce(false).await;
            let after = current_baggage().map(|b| b.as_str().to_owned());
            (before, after)
        }
        .with_baggage(inner));
        // Between polls the outer baggage is current again.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(current_baggage().unwrap().as_str(), "tier=gold");
        let seen = block_on(future);
        let tenant = Some("tenant=acme".to_owned());
        assert_eq!(seen, (tenant.clone(), tenant));
        assert_eq!(current_baggage().unwrap().as_str(), "tier=gold");
        drop(guard);
        assert!(current_baggage().is_none());
    }

    #[test]
    fn a_panicking_poll_leaves_neither_span_nor_baggage_current() {
        // A runtime catches a task's panic and keeps the worker thread: what the task
        // made current must not stay current for the thread's next tasks.
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("request that panics");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(
                async { panic!("handler failed") }
                    .in_span(span)
                    .with_baggage(Baggage::parse("tenant=acme")),
            )
        }));
        assert!(panicked.is_err());
        assert_eq!(current_context(), None);
        assert!(current_baggage().is_none());
    }

    /// Regression (found by review): `with_context`, which `in_span`'s docs give for a
    /// spawned task, kept the context but not the request's baggage, so the task sent
    /// no `baggage` header on.
    #[test]
    fn with_context_keeps_the_baggage_current_where_it_was_made() {
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("request");
        let guard = enter_baggage(Baggage::parse("tenant=acme"));
        let task = async { current_baggage().map(|b| b.as_str().to_owned()) }
            .with_context(span.trace_context());
        drop(guard);
        assert_eq!(block_on(task).as_deref(), Some("tenant=acme"));
        assert!(current_baggage().is_none(), "restored after the poll");
    }

    #[test]
    fn in_span_keeps_the_baggage_current_where_it_was_made() {
        // A task spawned from a request handler: made under the request's baggage,
        // polled elsewhere (here: after the handler's guard is gone).
        let provider = TracerProvider::builder().build();
        let guard = enter_baggage(Baggage::parse("tenant=acme"));
        let task = async { current_baggage().map(|b| b.as_str().to_owned()) }
            .in_span(provider.tracer().start_span("spawned"));
        drop(guard);
        assert!(current_baggage().is_none());
        assert_eq!(block_on(task).as_deref(), Some("tenant=acme"));
        assert!(current_baggage().is_none(), "restored after the poll");
    }

    #[test]
    fn a_span_without_a_context_leaves_the_current_one_in_place() {
        // Tracing disabled: the span has no valid context. Code below it still sees
        // (and injects) the request's context.
        let provider = TracerProvider::builder().build();
        let outer = provider.tracer().start_span("outer");
        let outer_id = outer.context().span_id;
        let _guard = enter(&outer);
        let invalid = Span::non_recording(SpanContext::INVALID);
        let seen = block_on(async { current_span_context().map(|c| c.span_id) }.in_span(invalid));
        assert_eq!(seen, Some(outer_id));
        let disabled = Span::non_recording(SpanContext::INVALID);
        let inner = enter(&disabled);
        assert_eq!(current_span_context().map(|c| c.span_id), Some(outer_id));
        drop(inner);
        assert_eq!(current_span_context().map(|c| c.span_id), Some(outer_id));
        // Regression: its guard pushed a copy of the current context, which stayed
        // current after the guard that had set it was dropped (out of order).
        let inner = enter(&disabled);
        drop(_guard);
        assert_eq!(current_context(), None);
        drop(inner);
    }

    /// Regression: `in_span` made the baggage current where it was made current on
    /// every poll, over a `with_baggage` around it: the inner code saw (and sent on)
    /// the old baggage.
    #[test]
    fn a_with_baggage_around_in_span_wins() {
        let provider = TracerProvider::builder().build();
        let _request = enter_baggage(Baggage::parse("tenant=acme"));
        let seen = block_on(
            async { current_baggage().map(|b| b.as_str().to_owned()) }
                .in_span(provider.tracer().start_span("s"))
                .with_baggage(Baggage::parse("tenant=acme,user=42")),
        );
        assert_eq!(seen.as_deref(), Some("tenant=acme,user=42"));
    }

    /// Regression (found by review): a future's own baggage yielded to whatever baggage
    /// was current where it was polled, its span did not: a job made in one request and
    /// awaited by a worker made in another sent the worker's baggage with its own
    /// traceparent. Captured baggage now wins over captured baggage; baggage made
    /// current on purpose still wins over both (the test above).
    #[test]
    fn a_future_keeps_its_own_baggage_inside_another_futures() {
        let provider = TracerProvider::builder().build();
        let tracer = provider.tracer();
        let seen = || async { current_baggage().map(|b| b.as_str().to_owned()) };
        let two = enter_baggage(Baggage::parse("tenant=two"));
        let job = seen().in_span(tracer.start_span("job"));
        let job_cx = seen().with_context(tracer.start_span("cx").trace_context());
        drop(two);
        let one = enter_baggage(Baggage::parse("tenant=one"));
        let worker = async move { (job.await, job_cx.await, seen().await) }
            .in_span(tracer.start_span("worker"));
        drop(one);
        let (job, job_cx, worker) = block_on(worker);
        assert_eq!(job.as_deref(), Some("tenant=two"));
        assert_eq!(job_cx.as_deref(), Some("tenant=two"));
        assert_eq!(worker.as_deref(), Some("tenant=one"));
        // A job made where no baggage was current has none inside a worker that has
        // (found by the next review).
        let bare = seen().in_span(tracer.start_span("bare"));
        let one = enter_baggage(Baggage::parse("tenant=one"));
        let worker = bare.in_span(tracer.start_span("worker"));
        drop(one);
        assert_eq!(block_on(worker), None);
        // A scope of no baggage made on purpose (a request that brought none) wins
        // over a future's own (found by the third review).
        let one = enter_baggage(Baggage::parse("tenant=one"));
        let job = seen().in_span(tracer.start_span("j"));
        drop(one);
        assert_eq!(block_on(WithBaggage::new(job, None)), None);
        // Explicit baggage inside still wins over the captured.
        let three = enter_baggage(Baggage::parse("tenant=three"));
        let inner = seen().in_span(tracer.start_span("inner"));
        drop(three);
        let explicit = block_on(inner.with_baggage(Baggage::parse("tenant=four")));
        assert_eq!(explicit.as_deref(), Some("tenant=four"));
        assert_eq!(current_baggage(), None);
    }

    /// Regression: a future dropped before it completed (a client gone, a `select!`
    /// branch that lost) ran its destructors with nothing current: what they logged or
    /// started had no parent.
    #[test]
    fn a_future_dropped_before_it_completes_is_dropped_with_its_span_current() {
        struct OnDrop(Arc<std::sync::Mutex<Option<picotrace::SpanId>>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = current_span_context().map(|c| c.span_id);
            }
        }
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("cancelled");
        let id = span.context().span_id;
        let seen = Arc::new(std::sync::Mutex::new(None));
        poll_once_then_drop(pending_holding(OnDrop(Arc::clone(&seen))).in_span(span));
        assert_eq!(*seen.lock().unwrap(), Some(id));
        assert_eq!(current_context(), None, "and nothing is left current");
    }

    /// A proxy that forwards its caller's headers and clears the baggage on purpose
    /// (an empty bag entered, or given to `with_baggage`) sends no `baggage` header,
    /// also from a future made there and polled elsewhere, and from another thread
    /// given `current_baggage()` (found by review: while an empty bag was no baggage at
    /// all, to save its 8 KiB `Arc`, the caller's `secret=1` went on). Where no baggage
    /// was made current, injection leaves the headers' baggage alone.
    #[test]
    fn clearing_the_baggage_on_purpose_removes_the_forwarded_header() {
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("proxy");
        let inject = || {
            let mut headers = HashMap::new();
            headers.insert("baggage".to_owned(), "secret=1".to_owned());
            provider.inject(&span, &mut crate::HashMapInjector(&mut headers));
            headers.get("baggage").cloned()
        };
        assert_eq!(
            inject().as_deref(),
            Some("secret=1"),
            "nothing made current"
        );
        let (task, handed) = {
            let _cleared = enter_baggage(Baggage::new());
            assert_eq!(current_baggage().map(|b| b.len()), Some(0));
            assert_eq!(inject(), None, "an empty bag entered");
            {
                let _kept = enter_baggage(Baggage::parse("tier=gold"));
                assert_eq!(inject().as_deref(), Some("tier=gold"));
            }
            let task = async { inject() }.in_span(provider.tracer().start_span("task"));
            (task, current_baggage())
        };
        assert_eq!(inject().as_deref(), Some("secret=1"), "the scope is gone");
        assert_eq!(block_on(task), None, "a future made where it was cleared");
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| {
                let _bag = handed.map(enter_baggage);
                inject()
            })
            .join()
            .unwrap()
        });
        assert_eq!(elsewhere, None, "another thread given current_baggage()");
        let in_task = block_on(async { inject() }.with_baggage(Baggage::new()));
        assert_eq!(in_task, None, "an empty bag given to with_baggage");
        // A client span's injection does as the provider's.
        let _cleared = enter_baggage(Baggage::new());
        let mut request = http::Request::builder()
            .header("baggage", "secret=1")
            .body(())
            .unwrap();
        let client = crate::HttpClientSpan::start_request(&provider, &mut request);
        assert!(request.headers().get("baggage").is_none(), "{request:?}");
        drop(client);
    }

    /// A future that completes while it still holds a pending one (what `timeout`
    /// does when it elapses) drops that one when the wrapper drops what it completed:
    /// the span and baggage were no longer current then, so what it logged or
    /// injected had no parent.
    #[test]
    fn leftovers_of_a_completed_future_are_dropped_with_its_span_current() {
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("timed out");
        let id = span.context().span_id;
        let seen = Arc::new(std::sync::Mutex::new(None));
        let _bag = enter_baggage(Baggage::parse("tenant=acme"));
        let future = KeepsInner(Some(SeesOnDrop(Arc::clone(&seen)))).in_span(span);
        drop(_bag);
        block_on(future);
        assert_eq!(*seen.lock().unwrap(), Some((Some(id), true)));
        assert_eq!(current_context(), None, "and nothing is left current");
    }

    /// A poll that panics (the runtime drops the task) ends the span with an Error
    /// status: it was exported Unset, like a success.
    #[test]
    fn a_panicking_poll_ends_the_span_as_an_error() {
        let statuses = Statuses::default();
        let provider = TracerProvider::builder()
            .exporter(crate::SharedExporter::new(statuses.clone()))
            .build();
        let span = provider.tracer().start_span("request that panics");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(async { panic!("handler failed") }.in_span(span))
        }));
        assert!(panicked.is_err());
        // Regression (found by review): an Error set before the panic kept its
        // description only when the span was not in `in_span`.
        let mut failed = provider.tracer().start_span("failed, then panicked");
        failed.set_error("timeout");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(async { panic!("then this") }.in_span(failed))
        }));
        assert!(panicked.is_err());
        provider.flush().unwrap();
        let seen = statuses.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].contains("Error") && seen[0].contains("panicked"),
            "{seen:?}"
        );
        assert!(
            seen[1].contains("Error") && seen[1].contains("timeout"),
            "{seen:?}"
        );
    }

    /// Where the panic is caught around the handler (tower-http's `CatchPanicLayer`,
    /// `catch_unwind`) the handler's future is dropped later, with nothing unwinding;
    /// the README's pattern still marks its server span, which the handler's async
    /// block holds: the unwinding drops the block's live locals (a review took it for
    /// Unset). A status set before stays, and a handler that completes is untouched.
    #[test]
    fn a_kept_span_is_marked_by_a_panic_caught_around_the_handler() {
        let statuses = Statuses::default();
        let provider = TracerProvider::builder()
            .exporter(crate::SharedExporter::new(statuses.clone()))
            .build();
        let tracer = provider.tracer();
        let handler = |fail: Option<&'static str>, panics: bool| {
            Box::pin(async move {
                let mut span = tracer.start_server_span("GET /checkout", None);
                let id = span.context().span_id;
                if let Some(description) = fail {
                    span.set_error(description);
                }
                let seen = async move {
                    YieldOnce(false).await;
                    assert!(!panics, "handler failed");
                    current_span_context().map(|c| c.span_id)
                }
                .with_context(span.trace_context())
                .await;
                assert_eq!(seen, Some(id));
                span.set_attribute("http.response.status_code", 200);
            })
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for (fail, panics) in [(None, true), (Some("timeout"), true), (None, false)] {
            let mut handler = handler(fail, panics);
            let mut polled = Poll::Pending;
            while polled.is_pending() {
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler.as_mut().poll(&mut cx)
                }));
                let Ok(poll) = caught else { break };
                polled = poll;
            }
            assert_eq!(current_context(), None, "nothing left current");
            drop(handler); // after the catch, as `CatchPanicLayer` drops it
        }
        provider.flush().unwrap();
        let seen = statuses.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen[0].contains("Error") && seen[0].contains("panicked"),
            "{seen:?}"
        );
        assert!(
            seen[1].contains("Error") && seen[1].contains("timeout"),
            "{seen:?}"
        );
        assert_eq!(seen[2], "Unset", "{seen:?}");
    }

    /// Regression (found by review): the README's server pattern (the handler keeps
    /// its span and runs the work `with_context`) exported a panicked request's span
    /// Unset, as if it had succeeded: the span is dropped by the unwinding. A status
    /// set before the panic stays.
    #[test]
    fn a_span_dropped_by_a_panic_ends_as_an_error() {
        let statuses = Statuses::default();
        let provider = TracerProvider::builder()
            .exporter(crate::SharedExporter::new(statuses.clone()))
            .build();
        let tracer = provider.tracer();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(async {
                let mut span = tracer.start_server_span("GET /checkout", None);
                async { panic!("handler failed") }
                    .with_context(span.trace_context())
                    .await;
                span.set_ok();
            })
        }));
        assert!(panicked.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut span = tracer.start_span("already failed");
            span.set_status(picotrace::Status::Error {
                description: "timeout",
            });
            panic!("then this");
        }));
        assert!(panicked.is_err());
        // Not while panicking: Unset, as ever.
        drop(tracer.start_span("fine"));
        provider.flush().unwrap();
        let seen = statuses.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(
            seen[0].contains("Error") && seen[0].contains("panicked"),
            "{seen:?}"
        );
        assert!(seen[1].contains("timeout"), "{seen:?}");
        assert_eq!(seen[2], "Unset", "{seen:?}");
    }

    /// Regression (found by review): a future that completes and then panics while
    /// what it still held is dropped (a `timeout` keeps its pending future) ended its
    /// span Unset, as if it had succeeded; it ends as an error, as a panicking poll
    /// does, and leaves nothing current.
    #[test]
    fn a_panic_dropping_what_a_finished_future_held_ends_the_span_as_an_error() {
        struct Boom;
        impl Drop for Boom {
            fn drop(&mut self) {
                panic!("leftover");
            }
        }
        let statuses = Statuses::default();
        let provider = TracerProvider::builder()
            .exporter(crate::SharedExporter::new(statuses.clone()))
            .build();
        let span = provider.tracer().start_span("timed out");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(KeepsInner(Some(Boom)).in_span(span))
        }));
        assert!(panicked.is_err());
        assert_eq!(current_context(), None);
        provider.flush().unwrap();
        let seen = statuses.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].contains("Error") && seen[0].contains("panicked"),
            "{seen:?}"
        );
    }

    /// `with_context` makes the context current while polled; the caller keeps the
    /// span (and sets its status after the `.await`).
    #[test]
    fn with_context_is_current_only_while_polled_and_leaves_the_span_to_the_caller() {
        let provider = TracerProvider::builder().build();
        let mut span = provider.tracer().start_server_span("GET /", None);
        let id = span.context().span_id;
        let seen = block_on(
            async {
                let first = current_span_context().map(|c| c.span_id);
                YieldOnce(false).await;
                (first, current_span_context().map(|c| c.span_id))
            }
            .with_context(span.trace_context()),
        );
        assert_eq!(seen, (Some(id), Some(id)));
        assert_eq!(current_context(), None);
        assert!(span.is_recording(), "still the caller's");
        span.set_ok();
        // Nothing (or an invalid context) leaves what is current as it is.
        let _outer = enter(&span);
        let none = block_on(async { current_span_context() }.with_context(None));
        assert_eq!(none.map(|c| c.span_id), Some(id));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(async { panic!("handler failed") }.with_context(span.trace_context()))
        }));
        assert!(panicked.is_err());
        drop(_outer);
        assert_eq!(
            current_context(),
            None,
            "a panicking poll leaves nothing current"
        );
    }

    /// Regression: `with_context` and `with_baggage` dropped their future (cancelled,
    /// or holding a pending one when complete) with nothing current: the handler's
    /// destructors in the README's pattern ran without a parent or baggage.
    #[test]
    fn with_context_and_with_baggage_drop_what_they_hold_with_it_current() {
        let provider = TracerProvider::builder().build();
        let span = provider.tracer().start_span("handler");
        let id = span.context().span_id;
        // Cancelled after one poll.
        let seen = Arc::new(std::sync::Mutex::new(None));
        poll_once_then_drop(
            pending_holding(SeesOnDrop(Arc::clone(&seen)))
                .with_context(span.trace_context())
                .with_baggage(Baggage::parse("tenant=acme")),
        );
        assert_eq!(*seen.lock().unwrap(), Some((Some(id), true)));
        // Complete, still holding something.
        let seen = Arc::new(std::sync::Mutex::new(None));
        block_on(
            KeepsInner(Some(SeesOnDrop(Arc::clone(&seen))))
                .with_context(span.trace_context())
                .with_baggage(Baggage::parse("tenant=acme")),
        );
        assert_eq!(*seen.lock().unwrap(), Some((Some(id), true)));
        assert_eq!(current_context(), None, "and nothing is left current");
        assert!(current_baggage().is_none());
    }

    /// Regression (found by review): a span started and ended while the thread was
    /// already unwinding (a clean-up in a `Drop`, a future polled to completion there)
    /// was marked Error "panicked", though it did not fail: only a span the panic cut
    /// short is.
    #[test]
    fn a_span_started_while_unwinding_is_not_blamed_for_the_panic() {
        let statuses = Statuses::default();
        let provider = TracerProvider::builder()
            .exporter(crate::SharedExporter::new(statuses.clone()))
            .build();
        struct Cleanup(&'static crate::StdTracer);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                block_on(async {}.in_span(self.0.start_span("cleanup")));
                self.0.start_span("rollback").end();
            }
        }
        let tracer = provider.tracer();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _cut_short = tracer.start_span("handler");
            let _cleanup = Cleanup(tracer);
            panic!("the handler failed");
        }));
        provider.flush().unwrap();
        let mut seen = statuses.0.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            ["Error { description: \"panicked\" }", "Unset", "Unset"]
        );
    }
}
