//! Unique indexes told apart by name: a violation of the index that says
//! "one wallet per currency" means the wallet exists, while a violation of
//! any other index stays the database error it is.
//!
//! PostgreSQL names the violated constraint (the index's name). SQLite
//! names the indexed columns instead (`UNIQUE constraint failed:
//! wallets.user_id, wallets.currency`), or the index itself when it
//! covers expressions (`UNIQUE constraint failed: index 'name'`); its
//! extended result code says which kind of constraint it was.

use sea_orm::{DbErr, RuntimeErr, sqlx::error::DatabaseError};

/// A unique index as its migration creates it.
#[derive(Debug, Clone, Copy)]
pub struct UniqueIndex {
    pub name: &'static str,
    pub table: &'static str,
    /// The indexed columns, in the index's order.
    pub columns: &'static [&'static str],
}

impl UniqueIndex {
    /// Whether `e` is a violation of this index (on either backend).
    pub fn violated_by(&self, e: &DbErr) -> bool {
        let Some(db) = database_error(e) else {
            return false;
        };
        if !db.is_unique_violation() {
            return false;
        }
        match db.constraint() {
            Some(constraint) => constraint == self.name,
            None => self.named_in_sqlite_message(db.message()),
        }
    }

    fn named_in_sqlite_message(&self, message: &str) -> bool {
        let Some(named) = message.strip_prefix("UNIQUE constraint failed: ") else {
            return false;
        };
        if let Some(index) = named
            .strip_prefix("index '")
            .and_then(|rest| rest.strip_suffix('\''))
        {
            return index == self.name;
        }
        let mut columns = named.split(", ");
        self.columns.iter().all(|column| {
            columns.next().and_then(|c| c.split_once('.')) == Some((self.table, column))
        }) && columns.next().is_none()
    }
}

/// The database's own error behind `e`, if the database refused the
/// statement.
fn database_error(e: &DbErr) -> Option<&(dyn DatabaseError + 'static)> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database};

    use super::*;

    const PAIR: UniqueIndex = UniqueIndex {
        name: "uq_pairs_a_b",
        table: "pairs",
        columns: &["a", "b"],
    };
    const LOWER_NAME: UniqueIndex = UniqueIndex {
        name: "uq_pairs_lower_name",
        table: "pairs",
        columns: &["name"],
    };
    const NAME: UniqueIndex = UniqueIndex {
        name: "uq_pairs_name",
        table: "pairs",
        columns: &["name"],
    };

    async fn violation(db: &sea_orm::DatabaseConnection, row: &str) -> DbErr {
        db.execute_unprepared(&format!("INSERT INTO pairs (a, b, name) VALUES {row}"))
            .await
            .expect_err("a unique index refuses the row")
    }

    #[tokio::test]
    async fn sqlite_violations_are_told_apart_by_index() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE pairs (a INTEGER, b INTEGER, name TEXT);
             CREATE UNIQUE INDEX uq_pairs_a_b ON pairs (a, b);
             CREATE UNIQUE INDEX uq_pairs_lower_name ON pairs (lower(name));
             INSERT INTO pairs (a, b, name) VALUES (1, 2, 'x');",
        )
        .await
        .unwrap();

        let same_pair = violation(&db, "(1, 2, 'y')").await;
        assert!(PAIR.violated_by(&same_pair), "{same_pair}");
        assert!(!LOWER_NAME.violated_by(&same_pair));
        assert!(!NAME.violated_by(&same_pair));

        let same_name = violation(&db, "(3, 4, 'X')").await;
        assert!(LOWER_NAME.violated_by(&same_name), "{same_name}");
        assert!(!PAIR.violated_by(&same_name));

        let not_unique = db
            .execute_unprepared("INSERT INTO missing VALUES (1)")
            .await
            .unwrap_err();
        assert!(!PAIR.violated_by(&not_unique));
        assert!(!PAIR.violated_by(&DbErr::Custom(
            "UNIQUE constraint failed: pairs.a, pairs.b".into()
        )));
    }

    #[test]
    fn sqlite_names_the_columns_of_the_index_in_its_order() {
        let named = |m: &str| PAIR.named_in_sqlite_message(m);
        assert!(named("UNIQUE constraint failed: pairs.a, pairs.b"));
        assert!(!named("UNIQUE constraint failed: pairs.a"));
        assert!(!named(
            "UNIQUE constraint failed: pairs.a, pairs.b, pairs.c"
        ));
        assert!(!named("UNIQUE constraint failed: others.a, others.b"));
        assert!(!named("UNIQUE constraint failed: index 'uq_other'"));
        assert!(named("UNIQUE constraint failed: index 'uq_pairs_a_b'"));
    }
}
