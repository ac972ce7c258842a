//! Issue 14: API keys, and tenants that never see each other's jobs.

use std::sync::Mutex;

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::helpers::{make_key, spawn_app_with, TestApp};

/// An answer, its body read (and kept for the leak check).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends requests to the app and keeps every body it got back, so a test
/// can check at its end that none carries a server path.
struct Caller<'a> {
    app: &'a TestApp,
    bodies: Mutex<Vec<String>>,
}

impl<'a> Caller<'a> {
    fn new(app: &'a TestApp) -> Caller<'a> {
        Caller {
            app,
            bodies: Mutex::new(Vec::new()),
        }
    }

    fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let request = self.app.client.request(method, self.app.url(path));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, key: Option<&str>) -> Answer {
        self.send(self.request(method, path, key)).await
    }

    async fn upload(&self, key: Option<&str>, csv: &str, idempotency_key: Option<&str>) -> Answer {
        let mut request = self
            .request(Method::POST, "/v1/jobs?filename=data.csv", key)
            .header("Content-Type", "text/csv")
            .body(csv.to_string());
        if let Some(idempotency_key) = idempotency_key {
            request = request.header("Idempotency-Key", idempotency_key);
        }
        self.send(request).await
    }

    /// Uploads as `key` and waits (with `?wait=`, no polling) until the job ends.
    async fn finished_job(&self, key: &str, csv: &str, idempotency_key: &str) -> String {
        let created = self.upload(Some(key), csv, Some(idempotency_key)).await;
        assert_eq!(created.status, 202, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_string();
        for _ in 0..6 {
            let job = self
                .call(Method::GET, &format!("/v1/jobs/{id}?wait=10"), Some(key))
                .await;
            if job.json()["status"] == "succeeded" {
                return id;
            }
        }
        panic!("job {id} did not succeed");
    }

    /// No answer of this test named a path of the server's data directory.
    fn assert_no_server_path(&self) {
        let data_dir = self.app.data_dir.display().to_string();
        let bodies = self.bodies.lock().unwrap();
        assert!(bodies.len() > 5, "the test made requests");
        for body in bodies.iter() {
            assert!(!body.contains(&data_dir), "{body}");
            assert!(!body.contains("/tmp/"), "{body}");
        }
    }
}

/// The routes of one job that a caller may or may not see.
fn job_routes(id: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, format!("/v1/jobs/{id}")),
        (Method::GET, format!("/v1/jobs/{id}?wait=1")),
        (Method::GET, format!("/v1/jobs/{id}/result")),
        (Method::HEAD, format!("/v1/jobs/{id}/result")),
        (Method::GET, format!("/v1/jobs/{id}/preview")),
        (Method::GET, format!("/v1/jobs/{id}/rejects")),
        (Method::GET, format!("/v1/jobs/{id}/events")),
    ]
}

#[tokio::test]
async fn another_tenants_job_answers_404_on_every_route_exactly_like_a_missing_one() {
    let app = spawn_app_with(|_| {}).await;
    let caller = Caller::new(&app);
    let alice = make_key(&app, "alice", "a", false).await;
    let bob = make_key(&app, "bob", "b", false).await;
    let admin = make_key(&app, "root", "ops", true).await;
    let csv = "id,name\n1,x\n2,y\n";
    let of_alice = caller.finished_job(&alice, csv, "same-key").await;
    let of_bob = caller.finished_job(&bob, "id\n7\n", "bob-key").await;
    let missing = uuid::Uuid::now_v7().to_string();

    for ((method, own), (_, absent)) in job_routes(&of_alice).into_iter().zip(job_routes(&missing))
    {
        let seen = caller.call(method.clone(), &own, Some(&alice)).await;
        assert_eq!(
            seen.status, 200,
            "{method} {own} as its tenant: {}",
            seen.body
        );
        let hidden = caller.call(method.clone(), &own, Some(&bob)).await;
        let unknown = caller.call(method.clone(), &absent, Some(&bob)).await;
        assert_eq!(hidden.status, 404, "{method} {own} as another tenant");
        let (mut hidden, mut unknown) = (hidden.json(), unknown.json());
        for problem in [&mut hidden, &mut unknown] {
            if let Some(problem) = problem.as_object_mut() {
                problem.remove("instance");
                problem.remove("trace_id");
            }
        }
        assert_eq!(
            hidden, unknown,
            "{method} {own}: the same 404 as a missing job"
        );
        let as_admin = caller.call(method.clone(), &own, Some(&admin)).await;
        assert_eq!(as_admin.status, 200, "{method} {own} as admin");
    }

    // Lists: each tenant its own, the admin both.
    let listed = |answer: Answer| -> Vec<String> {
        answer.json()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        listed(caller.call(Method::GET, "/v1/jobs", Some(&bob)).await),
        vec![of_bob.clone()]
    );
    assert_eq!(
        listed(
            caller
                .call(Method::GET, "/v1/jobs?status=succeeded", Some(&alice))
                .await
        ),
        vec![of_alice.clone()]
    );
    let own = caller
        .call(Method::GET, &format!("/v1/jobs/{of_alice}"), Some(&alice))
        .await;
    assert_eq!(own.json()["tenant"], "a", "a job says whose it is");
    let everything = listed(caller.call(Method::GET, "/v1/jobs", Some(&admin)).await);
    assert!(everything.contains(&of_alice) && everything.contains(&of_bob));

    // Idempotency keys are per tenant: bob's use of alice's key is his own
    // new job (no replay of hers, no 422); alice's retry replays hers.
    let bobs = caller
        .upload(Some(&bob), "other\n1\n", Some("same-key"))
        .await;
    assert_eq!(bobs.status, 202, "{}", bobs.body);
    assert_ne!(bobs.json()["id"], of_alice.as_str());
    let replay = caller.upload(Some(&alice), csv, Some("same-key")).await;
    assert_eq!(replay.json()["id"], of_alice.as_str(), "{}", replay.body);

    // Share links: bob cannot share alice's job (the same 404 as a missing
    // job); alice's link needs no key, and dies with her job below.
    let links = |id: &str| format!("/v1/jobs/{id}/links");
    let hidden = caller
        .call(Method::POST, &links(&of_alice), Some(&bob))
        .await;
    let unknown = caller
        .call(Method::POST, &links(&missing), Some(&bob))
        .await;
    assert_eq!((hidden.status, unknown.status), (404, 404));
    assert_eq!(hidden.json()["detail"], unknown.json()["detail"]);
    let made = caller
        .call(Method::POST, &links(&of_alice), Some(&alice))
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let url = made.json()["url"].as_str().unwrap().to_string();
    let shared = &url[url.find("/v1/shared/").unwrap()..];
    assert_eq!(caller.call(Method::GET, shared, None).await.status, 200);

    // Removal: bob cannot delete alice's job; she can.
    let path = format!("/v1/jobs/{of_alice}");
    assert_eq!(
        caller.call(Method::DELETE, &path, Some(&bob)).await.status,
        404
    );
    assert_eq!(
        caller.call(Method::GET, &path, Some(&alice)).await.status,
        200
    );
    assert_eq!(
        caller
            .call(Method::DELETE, &path, Some(&alice))
            .await
            .status,
        204
    );
    let after = caller.call(Method::GET, shared, None).await;
    assert_eq!(after.status, 404, "the link is gone with its job");
    caller.assert_no_server_path();
}

#[tokio::test]
async fn a_missing_wrong_or_revoked_key_is_401_with_a_bearer_challenge() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let caller = Caller::new(&app);
    let admin = make_key(&app, "root", "ops", true).await;
    let tenant = make_key(&app, "ci", "acme", false).await;
    // A presented key turns authentication on at once (no waiting for the
    // server's next count of keys).
    assert_eq!(
        caller
            .call(Method::GET, "/v1/jobs", Some(&tenant))
            .await
            .status,
        200
    );

    let missing = caller.call(Method::GET, "/v1/jobs", None).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (401, "unauthorized")
    );
    assert_eq!(
        missing.headers["www-authenticate"],
        r#"Bearer realm="parquetry""#
    );
    assert_eq!(missing.headers["content-type"], "application/problem+json");
    let mut wrong = tenant.clone();
    wrong.replace_range(wrong.len() - 4.., "AAAA");
    for key in [wrong.as_str(), "pqt_0123456789abcdef_nope", "not-a-key"] {
        let refused = caller.call(Method::GET, "/v1/jobs", Some(key)).await;
        assert_eq!(
            (refused.status, refused.code().as_str()),
            (401, "invalid-api-key")
        );
        let challenge = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="parquetry""#),
            "{challenge}"
        );
    }
    let basic = caller
        .send(
            caller
                .request(Method::GET, "/v1/jobs", None)
                .basic_auth("u", Some("p")),
        )
        .await;
    assert_eq!(basic.status, 401);
    let upload = caller.upload(None, "a\n1\n", None).await;
    assert_eq!(upload.status, 401);
    assert!(
        app.stored_files().is_empty(),
        "nothing stored for a refused upload"
    );

    // The health checks and (by default) the metrics need no key.
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            caller.call(Method::GET, open, None).await.status,
            200,
            "{open}"
        );
    }

    let revoked = caller
        .call(Method::DELETE, "/v1/keys/ci", Some(&admin))
        .await;
    assert_eq!(revoked.status, 204);
    let after = caller.call(Method::GET, "/v1/jobs", Some(&tenant)).await;
    assert_eq!(
        (after.status, after.code().as_str()),
        (401, "api-key-revoked")
    );
    caller.assert_no_server_path();
}

#[tokio::test]
async fn keys_are_managed_through_the_api_by_admin_keys_only() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let caller = Caller::new(&app);
    let admin = make_key(&app, "root", "ops", true).await;
    let tenant = make_key(&app, "ci", "acme", false).await;
    let new_key = |body: Value, key: &str| {
        caller
            .request(Method::POST, "/v1/keys", Some(key))
            .json(&body)
    };

    let refused = caller
        .send(new_key(serde_json::json!({"name": "x"}), &tenant))
        .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "admin-key-required")
    );
    for path in ["/v1/keys", "/v1/keys/root"] {
        let method = if path == "/v1/keys" {
            Method::GET
        } else {
            Method::DELETE
        };
        assert_eq!(
            caller.call(method, path, Some(&tenant)).await.status,
            403,
            "{path}"
        );
    }

    let made = caller
        .send(new_key(
            serde_json::json!({"name": "etl", "tenant": "acme"}),
            &admin,
        ))
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let key = made.json()["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pqt_"));
    let job = caller.upload(Some(&key), "a\n1\n", None).await;
    assert_eq!(job.status, 202);
    // The new key is acme's: it sees the job ci's key would see.
    let id = job.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/jobs/{id}");
    assert_eq!(
        caller.call(Method::GET, &path, Some(&tenant)).await.status,
        200
    );

    let taken = caller
        .send(new_key(serde_json::json!({"name": "etl"}), &admin))
        .await;
    assert_eq!(
        (taken.status, taken.code().as_str()),
        (409, "key-name-taken")
    );
    for body in [
        serde_json::json!({"name": ""}),
        serde_json::json!({"name": "a b"}),
        serde_json::json!({"name": "ok", "tenant": "../x"}),
        serde_json::json!({"name": "ok", "extra": 1}),
        serde_json::json!([1]),
    ] {
        let answer = caller.send(new_key(body.clone(), &admin)).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (400, "invalid-body"),
            "{body}"
        );
    }
    let unknown = caller
        .call(Method::DELETE, "/v1/keys/nobody", Some(&admin))
        .await;
    assert_eq!(unknown.status, 404);

    let listed = caller.call(Method::GET, "/v1/keys", Some(&admin)).await;
    assert_eq!(listed.status, 200);
    let keys = listed.json()["keys"].as_array().unwrap().clone();
    let names: Vec<&str> = keys.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["root", "ci", "etl"]);
    for secret in [&admin, &tenant, &key] {
        assert!(
            !listed.body.contains(secret.as_str()),
            "a listing never shows a key"
        );
    }
    assert!(!listed.body.contains("hash"));
    caller.assert_no_server_path();
}

#[tokio::test]
async fn metrics_need_an_admin_key_when_the_setting_says_so() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.auth.metrics_auth = true;
    })
    .await;
    let caller = Caller::new(&app);
    let admin = make_key(&app, "root", "ops", true).await;
    let tenant = make_key(&app, "ci", "acme", false).await;
    assert_eq!(
        caller
            .call(Method::GET, "/v1/jobs", Some(&tenant))
            .await
            .status,
        200
    );

    assert_eq!(caller.call(Method::GET, "/metrics", None).await.status, 401);
    assert_eq!(
        caller
            .call(Method::GET, "/metrics", Some(&tenant))
            .await
            .status,
        403
    );
    assert_eq!(
        caller
            .call(Method::GET, "/metrics", Some(&admin))
            .await
            .status,
        200
    );
    assert_eq!(caller.call(Method::GET, "/healthz", None).await.status, 200);
    assert_eq!(caller.call(Method::GET, "/readyz", None).await.status, 200);
    caller.assert_no_server_path();
}
