//! Following a job without polling: progress, timeline, `?wait=` and the
//! Server-Sent Events stream, against the real server and, for waking
//! across processes, a worker in another process.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::{large_csv, spawn_app_with, spawn_worker, TestApp};

/// One Server-Sent Event.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    name: String,
    data: Value,
}

/// Reads a whole event stream (until the server ends it), with a deadline.
async fn read_events(app: &TestApp, id: &str, last_event_id: Option<&str>) -> Vec<Event> {
    let mut request = app.client.get(app.url(&format!("/v1/jobs/{id}/events")));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the stream ends when the job ends");
    parse_events(&text)
}

fn parse_events(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = Event {
                id: None,
                name: "message".into(),
                data: Value::Null,
            };
            let mut data = None;
            for line in block.lines() {
                match line.split_once(": ") {
                    Some(("id", value)) => event.id = Some(value.to_string()),
                    Some(("event", value)) => event.name = value.to_string(),
                    Some(("data", value)) => data = Some(serde_json::from_str(value).unwrap()),
                    _ => {}
                }
            }
            event.data = data?;
            Some(event)
        })
        .collect()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn upload(app: &TestApp, csv: String, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/jobs{query}")))
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_event_stream_shows_progress_and_ends_with_the_final_status() {
    let app = spawn_app_with(|settings| settings.worker.heartbeat_interval_ms = 10).await;
    let created: Value = upload(&app, large_csv(2_000_000), "")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let events = read_events(&app, id, None).await;

    let last = events.last().expect("events");
    assert_eq!(last.name, "status");
    assert_eq!(last.data["status"], "succeeded");
    assert_eq!(last.data["result"]["rows"], 2_000_000);
    let progress: Vec<&Event> = events.iter().filter(|e| e.name == "progress").collect();
    let running: Vec<&&Event> = progress
        .iter()
        .filter(|e| e.data["status"] == "running")
        .collect();
    assert!(!running.is_empty(), "no progress while running: {events:?}");
    for event in &running {
        let stage = event.data["stage"].as_str().unwrap();
        assert!(
            ["detecting", "converting", "writing", "storing"].contains(&stage),
            "{stage}"
        );
        assert!(event.data["percent"].as_f64().is_none_or(|p| p < 100.0));
        // The total is known once detection found the file plain.
        if stage != "detecting" {
            assert_eq!(event.data["total_bytes"], created["input"]["bytes"]);
        }
    }
    // Progress only moves forward within a pass.
    let read: Vec<u64> = running
        .iter()
        .filter(|e| e.data["pass"] == 1)
        .filter_map(|e| e.data["bytes_read"].as_u64())
        .collect();
    assert!(read.windows(2).all(|pair| pair[0] <= pair[1]), "{read:?}");
    let finished = progress.last().unwrap();
    assert_eq!(finished.data["percent"], 100.0);
    assert_eq!(finished.data["stage"], "finished");
    // Ids say what was seen, so a client can resume.
    assert!(last.id.as_deref().unwrap().starts_with("succeeded:"));

    // Resumed after the end: nothing new, and the stream ends at once.
    let resumed = read_events(&app, id, last.id.as_deref()).await;
    assert!(resumed.is_empty(), "{resumed:?}");
    // Resumed from a running status: the end is told again.
    let resumed = read_events(&app, id, Some("running:")).await;
    let names: Vec<&str> = resumed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["progress", "status"]);
    app.stop().await;
}

#[tokio::test]
async fn a_finished_job_shows_its_timeline() {
    let app = spawn_app_with(|_| {}).await;
    // A form whose option follows its file waits in the queue (an upload
    // with all its options known at its first byte has a head start: see
    // `head_start`, whose timeline has no `queued` nor `claimed`).
    let file = reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("t.csv");
    let form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("delimiter", ",");
    let response = app.post_form(form).await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    let job = app
        .wait_until_finished(queued["id"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded");
    assert!(
        job.get("progress").is_none(),
        "progress is for running jobs"
    );
    let timeline = job["timeline"].as_array().unwrap();
    let stages: Vec<&str> = timeline
        .iter()
        .map(|step| step["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "received",
            "queued",
            "claimed",
            "detecting",
            "converting",
            "writing",
            "storing",
            "succeeded"
        ]
    );
    let starts: Vec<DateTime<Utc>> = timeline.iter().map(|s| instant(&s["started_at"])).collect();
    assert!(
        starts.windows(2).all(|pair| pair[0] <= pair[1]),
        "{timeline:?}"
    );
    for (step, next) in timeline.iter().zip(&starts[1..]) {
        let seconds = step["seconds"].as_f64().unwrap();
        let expected = (*next - instant(&step["started_at"]))
            .num_microseconds()
            .unwrap();
        assert!((seconds * 1e6 - expected as f64).abs() < 1.0, "{step}");
    }
    assert_eq!(timeline.last().unwrap()["seconds"], Value::Null);
    assert_eq!(
        instant(&timeline[1]["started_at"]),
        instant(&job["created_at"])
    );
    assert_eq!(
        instant(&timeline.last().unwrap()["started_at"]),
        instant(&job["finished_at"])
    );
    app.stop().await;
}

#[tokio::test]
async fn an_upload_that_waits_answers_with_the_finished_job() {
    let app = spawn_app_with(|_| {}).await;
    let response = upload(&app, "a;b\n1;2\n".into(), "?wait=30&delimiter=%3B").await;
    assert_eq!(response.status(), 200);
    let id = {
        let job: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(job["status"], "succeeded");
        assert!(job["options"].get("wait").is_none(), "{job}");
        job["id"].as_str().unwrap().to_string()
    };
    // A failed job is answered too, without a result to point at.
    let response = upload(&app, "a,b\n1,2\n3,4\n5\n6,7\n".into(), "?wait=30").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "failed", "{job}");
    // The succeeded one pointed at its result.
    let again = upload(&app, "x\n1\n".into(), "?wait=30").await;
    let location = again.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("/result"), "{location}");
    assert_eq!(
        app.client
            .get(app.url(&location))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(!id.is_empty());

    let refused = upload(&app, "a\n1\n".into(), "?wait=61").await;
    crate::helpers::expect_problem(refused, 400, "invalid-query").await;
    app.stop().await;
}

/// The embedded store wakes waiting requests in-process.
#[tokio::test]
async fn waiting_works_on_the_embedded_sqlite_store_too() {
    let app = spawn_app_with(|settings| settings.database.database_url = None).await;
    let response = upload(&app, "a;b\n1;2,5\n".into(), "?wait=30").await;
    assert_eq!(response.status(), 200);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "succeeded");
    let stages: Vec<&str> = job["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.first(), Some(&"received"));
    assert_eq!(stages.last(), Some(&"succeeded"));
    assert!(stages.contains(&"converting"), "{stages:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_with_no_worker_free_answers_202_when_the_time_is_up() {
    let app = spawn_app_with(|settings| settings.worker.workers = Some(0)).await;
    let response = upload(&app, "a\n1\n".into(), "?wait=0.3").await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "queued");
    assert_eq!(job["timeline"][1]["stage"], "queued");
    assert_eq!(job["timeline"][1]["seconds"], Value::Null);
    app.stop().await;
}

/// `?wait=` wakes at once when a worker in another process finishes the job
/// (PostgreSQL's LISTEN/NOTIFY), not at its next poll.
#[tokio::test]
async fn wait_answers_within_100_ms_of_a_job_finishing_in_another_process() {
    // The wake-up itself takes a few milliseconds; a test machine running
    // other tests in parallel can stall any one trip, so the best of three
    // trips must be within 100 ms and each well under a poll-like second.
    let mut latencies = Vec::new();
    for _ in 0..3 {
        let late = wake_latency().await;
        assert!(
            late < chrono::Duration::seconds(1),
            "answered {late} after the job finished: woken by the notification, not a timeout"
        );
        latencies.push(late);
        if late < chrono::Duration::milliseconds(100) {
            break;
        }
    }
    let best = latencies.iter().min().unwrap();
    assert!(
        *best < chrono::Duration::milliseconds(100),
        "answered {latencies:?} after the job finished"
    );
}

/// How long after a worker in another process finished a job a waiting
/// request (in place before the worker started) saw it finished.
async fn wake_latency() -> chrono::Duration {
    let app = spawn_app_with(|settings| settings.worker.workers = Some(0)).await;
    let created: Value = upload(&app, "a,b\n1,2\n".into(), "")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/v1/jobs/{id}?wait=30");

    // No worker yet: the wait runs to its end.
    let job = app.get_json(&format!("/v1/jobs/{id}?wait=0.2")).await;
    assert_eq!(job["status"], "queued");

    let waiting = {
        let (client, url) = (app.client.clone(), app.url(&path));
        tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await })
    };
    let _worker = spawn_worker(&app, &[("PARQUETRY_POLL_INTERVAL_MS", "60000")]);
    let first = waiting.await.unwrap().unwrap();
    assert_ne!(first["status"], "queued", "woke on the status change");
    let mut job = first;
    while job["status"] != "succeeded" {
        job = app.get_json(&path).await;
    }
    let late = Utc::now() - instant(&job["finished_at"]);
    app.stop().await;
    late
}

#[tokio::test]
async fn a_cancel_wakes_a_waiting_request() {
    let app = spawn_app_with(|settings| settings.worker.workers = Some(0)).await;
    let created: Value = upload(&app, "a\n1\n".into(), "")
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let waiting = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/v1/jobs/{id}?wait=30")),
        );
        tokio::spawn(async move {
            let job: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            (job, Utc::now())
        })
    };
    // The waiting request is in place once the server has read the job: a
    // cancel before that is seen by its first read, after it by its watch.
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (job, answered) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the cancel woke the waiting request")
        .unwrap();
    assert_eq!(job["status"], "canceled");
    assert!(answered - instant(&job["finished_at"]) < chrono::Duration::seconds(2));
    app.stop().await;
}
