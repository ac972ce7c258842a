//! The job table's client spans, read as an on-call engineer reads them: each
//! statement named for what it does, integer ports, the database named, and
//! no span per heartbeat (the job span counts them).

use std::time::Duration;

use crate::helpers::{create_database, large_csv, temp_data_dir};
use crate::otlp_receiver::{AttrValue, OtlpReceiver, SpanKind};
use crate::telemetry::{job as current_job, upload, wait_for_job, Service};

#[tokio::test]
async fn heartbeats_are_counted_on_the_job_span_not_exported_one_by_one() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            ("PARQUETRY_WORKERS", "1".into()),
            // Beats every 10 ms: a conversion of a few MB beats many times.
            ("PARQUETRY_HEARTBEAT_INTERVAL_MS", "10".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ],
    );
    let job = upload(&service, "?filename=big.csv", large_csv(300_000)).await;
    let id = job["id"].as_str().unwrap().to_string();
    let trace_id = job["trace_id"].as_str().unwrap().to_string();
    assert_eq!(wait_for_job(&service, &id).await["status"], "succeeded");
    let download = reqwest::Client::new()
        .get(service.url(&format!("/v1/jobs/{id}/result")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let result_bytes = download.bytes().await.unwrap().len() as i64;
    let logs = service.terminate();
    let succeeded = logs
        .iter()
        .find(|line| line["message"] == "job succeeded")
        .expect("the job's outcome line");
    assert_eq!(succeeded["job_id"], id.as_str(), "{succeeded}");

    let spans: Vec<_> = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "store result")
        })
        .await
        .into_iter()
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let consumer = spans
        .iter()
        .find(|s| s.kind == SpanKind::Consumer)
        .expect("the job span");
    let beats = match consumer.attributes.get("parquetry.job.heartbeats") {
        Some(AttrValue::Int(n)) => *n,
        other => panic!("heartbeats as an int on the job span, got {other:?}"),
    };
    assert!(
        beats >= 1,
        "a conversion of 300,000 rows outlasts a 10 ms beat"
    );
    assert!(
        !spans.iter().any(|s| s.name.contains("heartbeat")),
        "no span per heartbeat"
    );
    let names: Vec<&str> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| s.name.as_str())
        .collect();
    for expected in [
        "INSERT jobs enqueue",
        "UPDATE jobs claim",
        "UPDATE jobs succeed",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // The stages: the upload's transfer, the engine's pass and the footer.
    let receive = spans
        .iter()
        .find(|s| s.name == "receive upload")
        .expect("the upload's transfer");
    assert!(matches!(
        receive.attributes.get("parquetry.upload.bytes"),
        Some(AttrValue::Int(n)) if *n > 1_000_000
    ));
    let pass = spans
        .iter()
        .find(|s| s.name == "csv.parse_encode")
        .expect("the engine's pass");
    assert_eq!(
        pass.attributes.get("parquetry.rows"),
        Some(&AttrValue::Int(300_000))
    );
    assert!(spans.iter().any(|s| s.name == "parquet.write_footer"));
    // The download's server span (a trace of its own) names its job and what it sent.
    let all = receiver.spans();
    let download = all
        .iter()
        .find(|s| {
            s.kind == SpanKind::Server
                && s.attr("parquetry.job.id").as_deref() == Some(id.as_str())
                && s.attributes.contains_key("http.response.body.size")
        })
        .expect("the download's server span");
    assert_eq!(
        download.attributes.get("http.response.body.size"),
        Some(&AttrValue::Int(result_bytes))
    );
    for span in spans.iter().filter(|s| s.kind == SpanKind::Client) {
        assert_eq!(
            span.attributes.get("server.port"),
            Some(&AttrValue::Int(5432)),
            "{}",
            span.name
        );
        assert!(span.attr("db.namespace").is_some(), "{}", span.name);
    }
}

#[tokio::test]
async fn a_delete_that_cancels_a_job_links_to_the_jobs_trace() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            // No workers: the job stays queued until the DELETE cancels it.
            ("PARQUETRY_WORKERS", "0".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ],
    );
    let client = reqwest::Client::new();
    let job = upload(&service, "?filename=a.csv", "a,b\n1,2\n").await;
    let (id, job_trace) = (
        job["id"].as_str().unwrap(),
        job["trace_id"].as_str().unwrap(),
    );
    let response = client
        .delete(service.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    service.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "UPDATE jobs cancel")
        })
        .await;
    let producer = spans
        .iter()
        .find(|s| s.kind == SpanKind::Producer && s.trace_id == job_trace)
        .expect("the upload's producer span");
    let cancel = spans
        .iter()
        .find(|s| s.name == "UPDATE jobs cancel")
        .expect("the cancel statement");
    assert_ne!(
        cancel.trace_id, job_trace,
        "the DELETE is a trace of its own"
    );
    let delete = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.trace_id == cancel.trace_id)
        .expect("the DELETE's server span");
    assert!(
        delete
            .links
            .contains(&(job_trace.to_string(), producer.span_id.clone())),
        "the DELETE links to the job's trace: {:?}",
        delete.links
    );
    // And the job's trace records who canceled it.
    let marker = spans
        .iter()
        .find(|s| s.name == "job canceled" && s.trace_id == job_trace)
        .expect("a `job canceled` span in the job's trace");
    assert_eq!(marker.parent_span_id.as_ref(), Some(&producer.span_id));
    assert_eq!(
        marker.attr("parquetry.canceled_by.trace_id").as_deref(),
        Some(delete.trace_id.as_str())
    );
    assert!(marker
        .links
        .contains(&(delete.trace_id.clone(), delete.span_id.clone())));
}

#[tokio::test]
async fn a_running_job_shows_its_progress_in_its_trace_before_it_ends() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let data_dir = temp_data_dir();
    let env = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", data_dir.display().to_string()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ];
        env.extend_from_slice(extra);
        env
    };
    let api = Service::start("serve", &env(&[("PARQUETRY_WORKERS", "0".into())]));
    let job = upload(&api, "?filename=slow.csv", "a,b\n1,2\n").await;
    let id = job["id"].as_str().unwrap().to_string();
    let trace = job["trace_id"].as_str().unwrap().to_string();
    // The job's input becomes a named pipe held open for writing: the worker
    // reads it, and waits, for as long as the test holds it.
    let upload = data_dir.join("uploads").join(format!("{id}.csv"));
    std::fs::remove_file(&upload).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&upload)
        .status()
        .unwrap();
    assert!(made.success());
    let pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&upload)
        .unwrap();
    let worker = Service::start(
        "worker",
        &env(&[
            ("PARQUETRY_WORKERS", "1".into()),
            ("PARQUETRY_HEARTBEAT_INTERVAL_MS", "50".into()),
        ]),
    );

    let spans = receiver
        .wait_for_spans(Duration::from_secs(60), |spans| {
            spans
                .iter()
                .any(|s| s.name == "job progress" && s.trace_id == trace)
        })
        .await;
    // Still running: its input has not ended.
    let now = current_job(&api, &id).await;
    assert_eq!(now["status"], "running");
    let in_trace: Vec<_> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let producer = in_trace
        .iter()
        .find(|s| s.kind == SpanKind::Producer)
        .expect("the upload's producer span, exported when the upload ended");
    let progress = in_trace.iter().find(|s| s.name == "job progress").unwrap();
    assert_eq!(progress.parent_span_id.as_ref(), Some(&producer.span_id));
    assert_eq!(
        progress.attr("parquetry.job.id").as_deref(),
        Some(id.as_str())
    );
    assert!(progress.attr("parquetry.job.stage").is_some());
    assert!(matches!(
        progress.attributes.get("parquetry.job.bytes_read"),
        Some(AttrValue::Int(_))
    ));
    assert_eq!(
        progress.attributes.get("parquetry.job.input_bytes"),
        Some(&AttrValue::Int(8))
    );
    assert!(
        !in_trace.iter().any(|s| s.kind == SpanKind::Consumer),
        "the job span comes when the job ends"
    );

    // Let the job end: it fails or succeeds, the progress was seen either way.
    drop(pipe);
    // It leaves `running` (failed, or back in the queue): not necessarily finished.
    crate::helpers::eventually(
        "the job stops running",
        Duration::from_secs(60),
        async || current_job(&api, &id).await["status"] != "running",
    )
    .await;
    worker.terminate();
    api.terminate();
}

#[tokio::test]
async fn no_cell_of_a_failing_csv_reaches_the_telemetry() {
    const CELL: &str = "SENTINEL-CELL-93731";
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            ("PARQUETRY_WORKERS", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ],
    );
    let csv = format!("id,qty\n1,10\n2,{CELL}\n");
    let job = upload(&service, "?filename=bad.csv&schema=qty:int64", csv).await;
    let id = job["id"].as_str().unwrap().to_string();
    let failed = wait_for_job(&service, &id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "invalid-value");
    assert_eq!(failed["error"]["line"], 3);
    assert_eq!(failed["error"]["column"], "qty");
    let logs = service.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Consumer)
        })
        .await;
    for span in &spans {
        let text = format!(
            "{} {:?} {} {:?}",
            span.name, span.attributes, span.status_message, span.events
        );
        assert!(!text.contains(CELL), "a cell in span {}: {text}", span.name);
    }
    for record in receiver.log_records() {
        let text = format!("{} {:?}", record.body, record.attributes);
        assert!(!text.contains(CELL), "a cell in a log record: {text}");
    }
    for line in &logs {
        assert!(
            !line.to_string().contains(CELL),
            "a cell in a log line: {line}"
        );
    }
}
