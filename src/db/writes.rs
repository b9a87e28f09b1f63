//! Writes gathered during a unit of work and sent together at its end.
//!
//! A ledger operation writes half a dozen tables (the transaction, its
//! events, tallies, audit rows, the wallets and their history). Sent one by
//! one, each is a round trip while the wallets stay locked. On PostgreSQL
//! they go as one statement instead, each a data-modifying part of a
//! `WITH`: foreign keys are checked at the end of the statement, so a row
//! may refer to one another part inserts. SQLite has no such statement and
//! runs them one by one, in the order they were added.
//!
//! The parts of one PostgreSQL statement all see the database as it was
//! before it, so no part may read what another writes. The only reads here
//! are of the table a part itself writes (an upsert's conflict, an update's
//! filter), and a table that comes back starts a new statement.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, DeleteMany, EntityTrait, InsertMany,
    QueryTrait, UpdateMany,
    sea_query::{Alias, CommonTableExpression, SubQueryStatement, WithClause},
};

#[derive(Default)]
pub struct Writes {
    parts: Vec<(&'static str, SubQueryStatement)>,
}

impl Writes {
    /// Adds an insert of at least one row (an empty one is not a statement).
    pub fn insert<A: ActiveModelTrait>(&mut self, insert: InsertMany<A>) {
        self.add::<A::Entity>(insert.into_query().into());
    }

    pub fn update<E: EntityTrait>(&mut self, update: UpdateMany<E>) {
        self.add::<E>(update.into_query().into());
    }

    pub fn delete<E: EntityTrait>(&mut self, delete: DeleteMany<E>) {
        self.add::<E>(delete.into_query().into());
    }

    fn add<E: EntityTrait>(&mut self, part: SubQueryStatement) {
        self.parts.push((E::default().table_name(), part));
    }

    /// Runs every write, in as few statements as the backend allows.
    pub async fn run<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            for (_, part) in self.parts {
                execute(db, part).await?;
            }
            return Ok(());
        }
        for group in groups(self.parts) {
            execute(db, combined(group)).await?;
        }
        Ok(())
    }
}

/// Splits the parts, in order, where a table comes back.
fn groups(parts: Vec<(&'static str, SubQueryStatement)>) -> Vec<Vec<SubQueryStatement>> {
    let mut groups: Vec<(Vec<&'static str>, Vec<SubQueryStatement>)> = Vec::new();
    for (table, part) in parts {
        match groups.last_mut() {
            Some((tables, group)) if !tables.contains(&table) => {
                tables.push(table);
                group.push(part);
            }
            _ => groups.push((vec![table], vec![part])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// One statement for a group: each part but the last as a `WITH` part, the
/// last as the statement itself. A group of one is that part.
fn combined(mut group: Vec<SubQueryStatement>) -> SubQueryStatement {
    let last = group.pop().expect("a group has a part");
    if group.is_empty() {
        return last;
    }
    let mut with = WithClause::new();
    for (i, part) in group.into_iter().enumerate() {
        with.cte(
            CommonTableExpression::new()
                .query(part)
                .table_name(Alias::new(format!("w{i}")))
                .to_owned(),
        );
    }
    with.query(last).into()
}

async fn execute<C: ConnectionTrait>(db: &C, part: SubQueryStatement) -> Result<(), DbErr> {
    match part {
        SubQueryStatement::InsertStatement(s) => db.execute(&s).await?,
        SubQueryStatement::UpdateStatement(s) => db.execute(&s).await?,
        SubQueryStatement::DeleteStatement(s) => db.execute(&s).await?,
        SubQueryStatement::SelectStatement(s) => db.execute(&s).await?,
        SubQueryStatement::WithStatement(s) => db.execute(&s).await?,
    };
    Ok(())
}
