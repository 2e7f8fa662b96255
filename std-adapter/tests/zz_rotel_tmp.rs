use std::time::Duration;
use picotrace::TracerConfig;
use picotrace_std::*;
#[test]
fn rotel() {
    for (protocol, compression) in [
        (Protocol::HttpProtobuf, Compression::None),
        (Protocol::HttpJson, Compression::None),
        (Protocol::HttpProtobuf, Compression::Gzip),
        (Protocol::HttpJson, Compression::Gzip),
    ] {
        let otlp = std::sync::Arc::new(OtlpHttpExporter::builder()
            .endpoint("http://127.0.0.1:14318")
            .protocol(protocol)
            .compression(compression)
            .build()
            .unwrap());
        let batch = BatchExporter::builder(otlp.clone()).config(BatchConfig::default().with_scheduled_delay(Duration::from_millis(10))).build().unwrap();
        let p = TracerProvider::builder().config(TracerConfig::new("rotel-check")).exporter(batch.clone()).build();
        let root = p.tracer().start_server_span("GET /rotel", None);
        root.set_attribute("proto", format!("{protocol:?}/{compression:?}").as_str());
        root.add_event("hello");
        let child = root.child("child");
        child.set_error("boom");
        child.end();
        root.end();
        p.shutdown().unwrap();
        eprintln!("{protocol:?} {compression:?} {:?} {:?}", batch.stats(), otlp.stats());
        assert_eq!(batch.stats().exported, 2);
    }
}
