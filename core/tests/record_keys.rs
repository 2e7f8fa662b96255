//! Attribute keys as recorded: always whole and unique, whatever the span's text pool
//! holds, and limits that count distinct keys (issue 11, defects 2 and 6).

use picotrace::{
    semconv, ExportError, IdGenerator, KeyValue, ManualClock, SpanArena, SpanBatch, SpanExporter,
    SpanLimits, SpanStorage, Timestamp, TraceContext, Tracer, TracerConfig,
};

/// An attribute list as exported: `(key, value shown)` pairs and the dropped count.
type Owned = (Vec<(String, String)>, u32);

#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    attrs: Owned,
    events: Vec<(String, Owned)>,
    links: Vec<Owned>,
    truncated: u32,
}

#[derive(Default)]
struct Collect(Vec<Seen>);

fn owned<'a>(
    attrs: impl Iterator<Item = (&'a str, picotrace::AttributeValue<'a>)>,
    dropped: u32,
) -> Owned {
    (
        attrs
            .map(|(k, v)| (k.to_owned(), format!("{v:?}")))
            .collect(),
        dropped,
    )
}

impl SpanExporter for Collect {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        self.0.extend(batch.iter().map(|s| {
            Seen {
                attrs: owned(s.attributes(), s.dropped_attributes_count()),
                events: s
                    .events()
                    .map(|e| {
                        let attrs = owned(e.attributes(), e.dropped_attributes_count());
                        (e.name().to_owned(), attrs)
                    })
                    .collect(),
                links: s
                    .links()
                    .map(|l| owned(l.attributes(), l.dropped_attributes_count()))
                    .collect(),
                truncated: s.truncated_values_count(),
            }
        }));
        Ok(())
    }
}

fn tracer<A: SpanStorage>(arena: A, limits: SpanLimits) -> Tracer<A, ManualClock, Collect> {
    Tracer::new(
        TracerConfig::new("svc").with_limits(limits),
        arena,
        ManualClock::new(Timestamp::from_unix_nanos(1)),
        IdGenerator::from_seed([7; 32]),
        Collect::default(),
    )
}

fn exported<A: SpanStorage>(t: &Tracer<A, ManualClock, Collect>) -> Seen {
    t.flush();
    let mut spans = t.with_exporter(|x| core::mem::take(&mut x.0)).unwrap();
    assert_eq!(spans.len(), 1);
    spans.remove(0)
}

fn keys(owned: &Owned) -> Vec<&str> {
    owned.0.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn dynamic_key_that_does_not_fit_the_text_pool_is_dropped_and_counted() {
    // 64 text bytes: name "s" (1) + a 55-byte value leaves 8.
    let t = tracer(SpanArena::<1, 8, 2, 2, 64>::new(), SpanLimits::DEFAULT);
    let mut s = t.start_span("s");
    s.set_attribute("filler", "x".repeat(55).as_str());
    s.set_attribute_dyn("http.request.method", 1); // 19 bytes: does not fit
    s.set_attribute_dyn("k.fits", 2); // 6 bytes: fits (2 left)
    s.set_attribute_dyn("abc", 3); // 3 bytes: does not fit
    s.set_attribute_dyn("", 4); // an empty key is not a key: dropped, counted
    drop(s);
    let span = exported(&t);
    assert_eq!(keys(&span.attrs), ["filler", "k.fits"]);
    assert_eq!(
        span.attrs.1, 3,
        "two keys that did not fit and the empty one"
    );
    assert!(span.attrs.0.iter().all(|(k, _)| k.len() != 1 && k != "ab"));
}

#[test]
fn event_and_link_keys_that_do_not_fit_are_dropped_and_counted() {
    let t = tracer(SpanArena::<1, 8, 2, 2, 64>::new(), SpanLimits::DEFAULT);
    let mut s = t.start_span("s");
    s.set_attribute("filler", "x".repeat(52).as_str()); // 11 bytes left
                                                        // "exception" (9) fits; the two exception keys are stored by reference (they took
                                                        // the span's text before, and neither fitted: the event had no attribute), so the
                                                        // values take the 2 bytes left: the type is cut, and the message, which finds no
                                                        // room at all, is dropped and counted (it was sent as "", which reads as a real
                                                        // message: found by review).
    s.record_exception_with_type("TimeoutError", "timed out");
    // A valid context: a link to an invalid one with nothing kept is itself dropped.
    let linked = TraceContext::from(picotrace::SpanContext {
        trace_id: picotrace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        span_id: picotrace::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags: picotrace::TraceFlags::SAMPLED,
        is_remote: true,
    });
    s.add_link(
        &linked,
        &[KeyValue::new("a.long.link.key", 1), KeyValue::new("k", 2)],
    );
    drop(s);
    let span = exported(&t);
    assert_eq!(span.events.len(), 1);
    let (name, attrs) = &span.events[0];
    assert_eq!(name, semconv::EXCEPTION_EVENT);
    assert_eq!(
        attrs,
        &(
            vec![("exception.type".to_owned(), r#"Str("Ti")"#.to_owned())],
            1
        ),
        "the type cut, the message with no room dropped and counted"
    );
    // No room left for either link key: both dropped and counted.
    assert_eq!(span.links, [(vec![], 2)]);
}

#[test]
fn exception_keys_are_whole_when_they_fit_and_values_are_cut_instead() {
    let t = tracer(SpanArena::<1, 8, 2, 2, 64>::new(), SpanLimits::DEFAULT);
    let mut s = t.start_span("s");
    s.set_attribute("filler", "x".repeat(20).as_str()); // 43 left
    s.record_exception("a message far longer than the room that is left in the pool");
    drop(s);
    let span = exported(&t);
    // "exception" (9) fits; "exception.message" is stored by reference (it took 17
    // bytes of the span's text before); the value is cut to the 34 left.
    let (_, attrs) = &span.events[0];
    assert_eq!(keys(attrs), [semconv::EXCEPTION_MESSAGE]);
    assert_eq!(attrs.1, 0);
    assert_eq!(attrs.0[0].1, r#"Str("a message far longer than the room")"#);
    assert_eq!(span.truncated, 1);
}

#[test]
fn duplicate_event_keys_do_not_count_toward_the_limit() {
    let limits = SpanLimits {
        attributes_per_event: 2,
        attributes_per_link: 2,
        ..SpanLimits::DEFAULT
    };
    let t = tracer(SpanArena::<1, 8, 2, 2, 256>::new(), limits);
    let mut s = t.start_span("s");
    let kvs = [
        KeyValue::new("a", 1),
        KeyValue::new("a", 2),
        KeyValue::new("b", 3),
        KeyValue::new("c", 4),
        KeyValue::new("c", 5),
    ];
    s.add_event_with_attributes("e", &kvs);
    s.add_link(&TraceContext::default(), &kvs);
    drop(s);
    let span = exported(&t);
    // The later value of a duplicate key replaces the earlier one (as set_attribute
    // does); "c" is one distinct key over the limit, dropped once.
    let expected: Owned = (
        vec![
            ("a".to_owned(), "I64(2)".to_owned()),
            ("b".to_owned(), "I64(3)".to_owned()),
        ],
        1,
    );
    assert_eq!(span.events, [("e".to_owned(), expected.clone())]);
    assert_eq!(span.links, [expected]);
}
