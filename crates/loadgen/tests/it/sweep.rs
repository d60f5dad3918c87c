//! Sweeps: files written as each level ends, resume, and refusal to overwrite.

use std::sync::Arc;
use std::time::Duration;

use loadgen::workload::HttpWorkload;
use loadgen::{CancellationToken, Level, Phases, Schedule, Sweep, SweepOutput, Window, run_sweep};

use super::server;

fn levels(users: &[u32]) -> Vec<Level> {
    users
        .iter()
        .map(|u| {
            let mut l = Level::new(Schedule::closed(*u));
            l.phases = Phases {
                warmup: Duration::from_millis(100).into(),
                window: Window::Duration(Duration::from_millis(400)),
                cooldown: Duration::from_millis(50),
            };
            l
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_writes_each_level_and_resumes() {
    let s = server::echo().await;
    let w = Arc::new(HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out = SweepOutput { dir: dir.path().to_owned(), stem: "allon_off_unary".into(), resume: false };
    let sweep = Sweep { levels: levels(&[1, 2]), output: Some(out.clone()) };
    let mut seen = Vec::new();
    let results = run_sweep(&w, &sweep, None, &CancellationToken::new(), &mut |r, resumed| {
        seen.push((r.label.clone(), resumed))
    })
    .await
    .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(seen, vec![("c1".to_owned(), false), ("c2".to_owned(), false)]);

    // The CSV: the documented header and one row per level, readable without the Rust code.
    let mut rdr = csv::Reader::from_path(out.csv_path()).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, loadgen::csv_header());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], loadgen::SCHEMA);
    assert_eq!(&rows[1][1], "c2");
    let rps: f64 = rows[1][10].parse().unwrap();
    assert!((rps - results[1].throughput_rps).abs() < 0.01);

    // Each level's JSON.
    for l in ["c1", "c2"] {
        let r = loadgen::read_level(&out.level_path(l)).unwrap();
        assert_eq!(r.label, l);
    }

    // Without resume, nothing is overwritten.
    let again = run_sweep(&w, &sweep, None, &CancellationToken::new(), &mut |_, _| {}).await;
    assert!(matches!(again, Err(loadgen::Error::Config(ref m)) if m.contains("already exist")), "{again:?}");

    // Resume keeps the finished levels and runs only the new one.
    let before = s.requests.load(std::sync::atomic::Ordering::Relaxed);
    let resumed =
        Sweep { levels: levels(&[1, 2, 4]), output: Some(SweepOutput { resume: true, ..out.clone() }) };
    let mut seen = Vec::new();
    let results = run_sweep(&w, &resumed, None, &CancellationToken::new(), &mut |r, kept| {
        seen.push((r.label.clone(), kept))
    })
    .await
    .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(seen.iter().filter(|(_, kept)| *kept).count(), 2);
    assert!(s.requests.load(std::sync::atomic::Ordering::Relaxed) > before);
    let rows = csv::Reader::from_path(out.csv_path()).unwrap().records().count();
    assert_eq!(rows, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sweep_keeps_finished_levels() {
    let s = server::echo().await;
    let w = Arc::new(HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out = SweepOutput { dir: dir.path().to_owned(), stem: "cut".into(), resume: false };
    let mut lv = levels(&[1, 2]);
    lv[1].phases.window = Window::Duration(Duration::from_secs(60));
    let sweep = Sweep { levels: lv, output: Some(out.clone()) };
    let stop = CancellationToken::new();
    let mut on_level = {
        let stop = stop.clone();
        move |_: &loadgen::LevelResult, _| {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                stop.cancel();
            });
        }
    };
    let r = run_sweep(&w, &sweep, None, &stop, &mut on_level).await;
    assert!(matches!(r, Err(loadgen::Error::Stopped { ref level }) if level == "c2"), "{r:?}");
    assert!(out.level_path("c1").exists());
    assert!(!out.level_path("c2").exists());
    assert_eq!(csv::Reader::from_path(out.csv_path()).unwrap().records().count(), 1);
}

#[tokio::test]
async fn duplicate_levels_and_bad_names_are_rejected() {
    let w = Arc::new(HttpWorkload::builder("http://127.0.0.1:1/").unwrap().build().unwrap());
    let sweep = Sweep { levels: levels(&[2, 2]), output: None };
    assert!(run_sweep(&w, &sweep, None, &CancellationToken::new(), &mut |_, _| {}).await.is_err());
    let sweep = Sweep {
        levels: levels(&[1]),
        output: Some(SweepOutput { dir: "/tmp".into(), stem: "../escape".into(), resume: false }),
    };
    assert!(run_sweep(&w, &sweep, None, &CancellationToken::new(), &mut |_, _| {}).await.is_err());
}
