//! GraphiQL's page and assets as HTTP sees them: everything from this
//! server, versioned and cached as immutable, under a policy that allows no
//! inline script and no other origin. (tests/api/browser.rs runs it.)

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn page(app: &TestApp) -> reqwest::Response {
    app.client
        .get(format!("{}/graphql", app.address))
        .header("accept", HTML)
        .send()
        .await
        .unwrap()
}

/// The values of `attribute="..."` in the page.
fn attributes<'a>(page: &'a str, attribute: &str) -> Vec<&'a str> {
    page.split(&format!("{attribute}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[tokio::test]
async fn graphiql_comes_from_the_server_with_long_cache_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let answer = page(&app).await;
    assert_eq!(answer.status(), 200);
    let policy = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = answer.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    // No inline script: every script element names its file.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/graphiql/").count(),
        "{html}"
    );
    let assets: Vec<&str> = attributes(&html, "src")
        .into_iter()
        .chain(attributes(&html, "href"))
        .collect();
    assert_eq!(assets.len(), 6, "{assets:?}");
    for path in assets {
        let asset = app.get(path).await;
        assert_eq!(asset.status(), 200, "{path}");
        let header = |name: &str| asset.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(
            header("cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        let kind = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header("content-type"), kind, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert!(!asset.bytes().await.unwrap().is_empty(), "{path}");
    }
    let vendored = "/graphiql/graphiql-3.8.3/graphiql.min.js";
    assert!(html.contains(vendored), "{html}");
    assert_eq!(
        app.get("/graphiql/graphiql-3.8.3/nope.js").await.status(),
        404
    );
}

#[tokio::test]
async fn switched_off_graphiql_serves_no_assets() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.graphql.graphiql = false).await;
    assert_ne!(page(&app).await.status(), 200);
    let asset = app.get("/graphiql/graphiql-3.8.3/graphiql.min.js").await;
    assert_eq!(asset.status(), 404);
}
