//! Normalization throughput: events per second on one core, over every Meta fixture and
//! over the most common body (one WhatsApp text).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard::channels::normalize;

/// Every fixture body under tests/fixtures/meta.
fn fixture_bodies() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meta");
    let mut bodies = Vec::new();
    for channel in ["whatsapp", "messenger", "instagram"] {
        let Ok(entries) = std::fs::read_dir(root.join(channel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(body) = std::fs::read(&path) {
                    bodies.push(body);
                }
            }
        }
    }
    bodies
}

fn bench(c: &mut Criterion) {
    let bodies = fixture_bodies();
    let events: usize = bodies.iter().map(|b| normalize(b, 0).events.len()).sum();
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("all fixtures", |b| {
        b.iter(|| {
            for body in &bodies {
                std::hint::black_box(normalize(std::hint::black_box(body), 0));
            }
        })
    });
    let text = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meta/whatsapp/text.json"),
    )
    .unwrap_or_default();
    group.throughput(Throughput::Elements(1));
    group.bench_function("whatsapp text", |b| {
        b.iter(|| normalize(std::hint::black_box(&text), 0))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
