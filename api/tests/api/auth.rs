//! Sign-in, refresh-token rotation and reuse detection, sign-out, and the
//! tokens the bearer scheme refuses.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use testkit::TestApp;

use crate::helpers::{
    Account, PASSWORD, assert_json, assert_problem, assert_unauthorized, error_fields, refresh, sign_up, token,
    try_login,
};

#[tokio::test]
async fn a_registered_user_signs_in_and_reads_its_own_account() {
    let app = TestApp::spawn().await;
    let email = TestApp::unique_email("ana");
    let registered = app.register(&email, PASSWORD, "host").await;

    let tokens = app.login(&email, PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], json!(app.config.access_token_ttl.as_secs()));
    let me = assert_json(app.get("/users/me", Some(&token(&tokens, "access_token"))).await, 200).await;

    assert_eq!(me["id"], registered["id"]);
    assert_eq!(me["email"], json!(email));
    assert_eq!(me["role"], "host");
    assert!(me.get("password_hash").is_none() && me.get("password").is_none(), "the account leaks a password: {me}");
}

#[tokio::test]
async fn a_refresh_issues_new_tokens_and_spends_the_old_refresh_token() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;

    let renewed = assert_json(refresh(&app, &account.refresh_token).await, 200).await;
    let (access, refresh_token) = (token(&renewed, "access_token"), token(&renewed, "refresh_token"));
    assert_ne!(refresh_token, account.refresh_token, "the refresh token was not rotated");
    let me = assert_json(app.get("/users/me", Some(&access)).await, 200).await;
    assert_eq!(me["id"], json!(account.id));

    let problem = assert_unauthorized(refresh(&app, &account.refresh_token).await).await;
    assert_eq!(problem["type"], "/problems/invalid-token");
}

#[tokio::test]
async fn after_logout_the_refresh_token_is_refused_but_other_sign_ins_live_on() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    let other_sign_in = token(&app.login(&account.email, PASSWORD).await, "refresh_token");

    let response = app.post("/auth/logout", &json!({ "refresh_token": account.refresh_token }), None).await;
    assert_eq!(response.status(), 204);

    assert_unauthorized(refresh(&app, &account.refresh_token).await).await;
    assert_json(refresh(&app, &other_sign_in).await, 200).await;
}

#[tokio::test]
async fn logging_out_with_an_unknown_refresh_token_still_answers_no_content() {
    let app = TestApp::spawn().await;

    let response = app.post("/auth/logout", &json!({ "refresh_token": "never-issued" }), None).await;

    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_token_that_succeeded_it() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    let successor = token(&assert_json(refresh(&app, &account.refresh_token).await, 200).await, "refresh_token");

    assert_unauthorized(refresh(&app, &account.refresh_token).await).await;

    let problem = assert_unauthorized(refresh(&app, &successor).await).await;
    assert_eq!(problem["type"], "/problems/invalid-token");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_refused_alike() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;

    let wrong_password = assert_unauthorized(try_login(&app, &account.email, "not the password").await).await;
    let unknown_email = assert_unauthorized(try_login(&app, &TestApp::unique_email("nobody"), PASSWORD).await).await;

    assert_eq!(wrong_password, unknown_email, "the answers tell registered emails apart");
}

#[tokio::test]
async fn a_request_without_authorization_is_refused_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;

    let problem = assert_unauthorized(app.get("/users/me", None).await).await;

    assert!(problem["detail"].as_str().unwrap().contains("Authorization"), "{problem}");
}

/// `token` with one character of its signature replaced.
fn with_flipped_signature(token: &str) -> String {
    let position = token.rfind('.').expect("a JWT has three parts") + 5;
    let mut chars: Vec<char> = token.chars().collect();
    chars[position] = if chars[position] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_is_refused_with_an_invalid_token_challenge() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    assert_json(app.get("/users/me", Some(&account.access_token)).await, 200).await;

    let response = app.get("/users/me", Some(&with_flipped_signature(&account.access_token))).await;

    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(challenge, r#"Bearer error="invalid_token""#);
    let problem = assert_unauthorized(response).await;
    assert_eq!(problem["type"], "/problems/invalid-token");
}

#[tokio::test]
async fn a_token_whose_claims_were_edited_to_admin_is_refused() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    let parts: Vec<&str> = account.access_token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["role"], "guest", "unexpected claims: {claims}");
    claims["role"] = json!("admin");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);

    assert_unauthorized(app.get("/users", Some(&forged)).await).await;
}

#[tokio::test]
async fn a_garbage_token_is_refused_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;

    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let problem = assert_unauthorized(app.get("/users/me", Some(garbage)).await).await;
        assert_eq!(problem["type"], "/problems/invalid-token", "for {garbage:?}");
    }
}

#[tokio::test]
async fn a_token_signed_by_another_deployment_is_refused() {
    let app = TestApp::spawn().await;
    let other =
        TestApp::spawn_with(|c| c.jwt_secret = "another-deployment-secret-0123456789abcdef".to_owned().into()).await;
    let foreign = sign_up(&other, "guest").await;

    assert_unauthorized(app.get("/users/me", Some(&foreign.access_token)).await).await;
}

/// `PUT /users/{id}` of `account`, signed in as it.
async fn update_self(app: &TestApp, account: &Account, body: Value) -> reqwest::Response {
    app.put(&account.path(), &body, Some(&account.access_token)).await
}

#[tokio::test]
async fn changing_ones_password_signs_out_every_session_and_only_the_new_password_works() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    let second_sign_in = token(&app.login(&account.email, PASSWORD).await, "refresh_token");
    let new_password = "an entirely new password";

    let response = update_self(&app, &account, json!({ "password": new_password, "current_password": PASSWORD })).await;
    assert_json(response, 200).await;

    assert_unauthorized(refresh(&app, &account.refresh_token).await).await;
    assert_unauthorized(refresh(&app, &second_sign_in).await).await;
    assert_unauthorized(try_login(&app, &account.email, PASSWORD).await).await;
    app.login(&account.email, new_password).await;
}

#[tokio::test]
async fn changing_ones_password_without_the_current_one_is_unprocessable_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;

    let response = update_self(&app, &account, json!({ "password": "an entirely new password" })).await;

    let problem = assert_problem(response, 422).await;
    assert_eq!(error_fields(&problem), ["current_password"]);
    app.login(&account.email, PASSWORD).await;
    assert_json(refresh(&app, &account.refresh_token).await, 200).await;
}

#[tokio::test]
async fn changing_ones_password_with_a_wrong_current_one_is_forbidden_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;

    let body = json!({ "password": "an entirely new password", "current_password": "not the password" });
    assert_problem(update_self(&app, &account, body).await, 403).await;

    app.login(&account.email, PASSWORD).await;
    assert_json(refresh(&app, &account.refresh_token).await, 200).await;
}

#[tokio::test]
async fn changing_ones_email_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let account = sign_up(&app, "guest").await;
    let new_email = TestApp::unique_email("moved");

    let problem = assert_problem(update_self(&app, &account, json!({ "email": new_email })).await, 422).await;
    assert_eq!(error_fields(&problem), ["current_password"]);

    let body = json!({ "email": new_email, "current_password": PASSWORD });
    let updated = assert_json(update_self(&app, &account, body).await, 200).await;
    assert_eq!(updated["email"], json!(new_email));
    app.login(&new_email, PASSWORD).await;
}
