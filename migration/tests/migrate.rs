//! The migrations apply, roll back and re-apply cleanly, and the constraints
//! that guard the ledger are really enforced by the database.
//!
//! Runs on a temporary SQLite file and on a throwaway PostgreSQL database
//! created on the server at `PAYGRAPH_TEST_POSTGRES_URL` (default: the local
//! one). PostgreSQL being unreachable fails the test.

use chrono::{Duration, Utc};
use entity::{idempotency_keys, payment_methods, user_profiles, users, wallets};
use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, NotSet, PaginatorTrait, QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

#[tokio::test]
async fn migrations_round_trip_and_enforce_constraints_on_sqlite() {
    let file =
        TempFile(std::env::temp_dir().join(format!("paygraph-migrate-{}.db", Uuid::now_v7())));
    let url = format!("sqlite://{}?mode=rwc", file.0.display());

    let db = Database::connect(&url).await.expect("open sqlite");
    check_round_trip_and_constraints(&db).await;
    db.close().await.expect("close sqlite");
}

/// Removes the database file even when an assertion fails.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn migrations_round_trip_and_enforce_constraints_on_postgres() {
    let server_url = std::env::var("PAYGRAPH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("paygraph_test_migrate_{}", Uuid::now_v7().simple());
    let server = Database::connect(&server_url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for this test and is not reachable at {server_url}: {e}")
    });
    server
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");

    let base = server_url.rsplit_once('/').expect("url has a path").0;
    let db = Database::connect(format!("{base}/{name}"))
        .await
        .expect("connect test database");
    check_round_trip_and_constraints(&db).await;
    db.close().await.expect("close");

    server
        .execute_unprepared(&format!("DROP DATABASE {name}"))
        .await
        .expect("drop database");
}

async fn check_round_trip_and_constraints(db: &DatabaseConnection) {
    let all = Migrator::migrations().len();
    let unbound_keys = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261128_000001_idempotency_keys_unbound_transaction")
        .expect("the migration that unbinds idempotency keys is listed");

    Migrator::up(db, Some(unbound_keys as u32))
        .await
        .expect("up to the one before the keys lose their foreign key");
    keys_survive_losing_the_transaction_fk(db).await;
    Migrator::up(db, None).await.expect("first up");
    assert!(
        Migrator::get_pending_migrations(db)
            .await
            .unwrap()
            .is_empty()
    );

    Migrator::down(db, None).await.expect("down");
    assert_eq!(
        Migrator::get_pending_migrations(db).await.unwrap().len(),
        all
    );

    Migrator::up(db, None).await.expect("second up");
    assert!(
        Migrator::get_pending_migrations(db)
            .await
            .unwrap()
            .is_empty()
    );

    let user = insert_user(db).await.expect("insert user");

    wallet(user, "USD", 150, 100, 50)
        .insert(db)
        .await
        .expect("a consistent wallet is accepted");

    let err = wallet(user, "EUR", 151, 100, 50)
        .insert(db)
        .await
        .expect_err("balance != available + frozen must be rejected");
    assert!(
        err.to_string().contains("ck_wallets_balance_is_sum"),
        "unexpected error: {err}"
    );

    let err = wallet(user, "GBP", -10, -10, 0)
        .insert(db)
        .await
        .expect_err("a negative available balance must be rejected");
    assert!(
        err.to_string()
            .contains("ck_wallets_available_non_negative"),
        "unexpected error: {err}"
    );

    payment_method(user, true)
        .insert(db)
        .await
        .expect("first default method");
    payment_method(user, false)
        .insert(db)
        .await
        .expect("any number of non-default methods");
    let err = payment_method(user, true)
        .insert(db)
        .await
        .expect_err("a second default method for one user must be rejected");
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "unexpected error: {err}"
    );

    let other = insert_user(db).await.expect("insert second user");
    payment_method(other, true)
        .insert(db)
        .await
        .expect("another user has a default of their own");

    // Server-side defaults decode into the entity types, and a defaulted
    // timestamp compares correctly with one the service binds (on SQLite both
    // are text, so this only holds if they share one format).
    let now = Utc::now();
    let stored = users::Entity::find_by_id(user)
        .filter(users::Column::CreatedAt.gt(now - Duration::minutes(5)))
        .filter(users::Column::CreatedAt.lte(now))
        .one(db)
        .await
        .expect("read user")
        .expect("user created within the last minutes");
    assert_eq!(stored.status, users::UserStatus::Active);
    assert!(stored.created_at > now - Duration::minutes(5) && stored.created_at <= now);

    // JSON and date columns round-trip through the entity types.
    let address = serde_json::json!({ "line1": "1 Main St", "country": "GB" });
    let date_of_birth = chrono::NaiveDate::from_ymd_opt(1815, 12, 10);
    let profile = user_profiles::ActiveModel {
        profile_id: Set(Uuid::now_v7()),
        user_id: Set(user),
        date_of_birth: Set(date_of_birth),
        address: Set(Some(address.clone())),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert profile");
    let profile = user_profiles::Entity::find_by_id(profile.profile_id)
        .one(db)
        .await
        .expect("read profile")
        .expect("profile exists");
    assert_eq!(profile.address, Some(address));
    assert_eq!(profile.date_of_birth, date_of_birth);
    assert_eq!(profile.kyc_status, user_profiles::KycStatus::Pending);
    assert_eq!(profile.kyc_documents, None);
}

/// `m20261128_000001` drops `idempotency_keys`' foreign key to
/// `transactions` (SQLite: by rebuilding the table): the keys already taken
/// stay, a key may then name a transaction not written yet, and the way
/// down restores the constraint.
async fn keys_survive_losing_the_transaction_fk(db: &DatabaseConnection) {
    let user = insert_user(db).await.expect("insert user");
    let key = |name: &str, transaction_id: Option<Uuid>| idempotency_keys::ActiveModel {
        user_id: Set(user),
        idempotency_key: Set(name.to_owned()),
        request_hash: Set("hash".to_owned()),
        transaction_id: Set(transaction_id),
        created_at: NotSet,
    };
    key("taken-before", None).insert(db).await.expect("a key");
    key("ahead", Some(Uuid::now_v7()))
        .insert(db)
        .await
        .expect_err("before: a key must name an existing transaction");

    Migrator::up(db, Some(1))
        .await
        .expect("the migration that drops the foreign key");
    let kept = idempotency_keys::Entity::find()
        .filter(idempotency_keys::Column::UserId.eq(user))
        .all(db)
        .await
        .expect("read keys");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].idempotency_key, "taken-before");
    key("ahead", Some(Uuid::now_v7()))
        .insert(db)
        .await
        .expect("after: a key may be taken bound to the transaction about to be written");

    idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::IdempotencyKey.eq("ahead"))
        .exec(db)
        .await
        .expect("delete");
    Migrator::down(db, Some(1)).await.expect("down one");
    key("ahead", Some(Uuid::now_v7()))
        .insert(db)
        .await
        .expect_err("down again: the constraint is back");
    let kept = idempotency_keys::Entity::find()
        .filter(idempotency_keys::Column::UserId.eq(user))
        .count(db)
        .await
        .expect("count keys");
    assert_eq!(kept, 1);
    idempotency_keys::Entity::delete_many()
        .exec(db)
        .await
        .expect("clean");
    users::Entity::delete_by_id(user)
        .exec(db)
        .await
        .expect("clean");
}

async fn insert_user(db: &DatabaseConnection) -> Result<Uuid, DbErr> {
    let user_id = Uuid::now_v7();
    users::ActiveModel {
        user_id: Set(user_id),
        email: Set(format!("{}@example.com", user_id.simple())),
        password_hash: Set("not-a-real-hash".to_owned()),
        first_name: Set("Ada".to_owned()),
        last_name: Set("Lovelace".to_owned()),
        phone: Set(None),
        status: NotSet,
        created_at: NotSet,
        updated_at: NotSet,
    }
    .insert(db)
    .await?;
    Ok(user_id)
}

fn wallet(
    user_id: Uuid,
    currency: &str,
    balance: i64,
    available: i64,
    frozen: i64,
) -> wallets::ActiveModel {
    wallets::ActiveModel {
        wallet_id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        currency: Set(entity::Currency::parse(currency).unwrap()),
        balance_minor: Set(balance.into()),
        available_balance_minor: Set(available.into()),
        frozen_balance_minor: Set(frozen.into()),
        ..Default::default()
    }
}

fn payment_method(user_id: Uuid, is_default: bool) -> payment_methods::ActiveModel {
    payment_methods::ActiveModel {
        method_id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        method_type: Set(payment_methods::MethodType::Card),
        encrypted_data: Set("ciphertext".to_owned()),
        last_four: Set(Some("4242".to_owned())),
        is_default: Set(is_default),
        ..Default::default()
    }
}
