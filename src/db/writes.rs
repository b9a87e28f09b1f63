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
//! filter), and a table that comes back starts a new statement. A part
//! that must read what the parts before it wrote is added with
//! [`Writes::insert_reading`], which starts a new statement too.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, DeleteMany, EntityTrait, InsertMany,
    QueryTrait, UpdateMany,
    sea_query::{Alias, CommonTableExpression, InsertStatement, SubQueryStatement, WithClause},
};

/// A part, the table it writes, and whether it reads what earlier parts
/// write (and so may not share their statement).
struct Part {
    table: &'static str,
    reads_earlier: bool,
    statement: SubQueryStatement,
}

#[derive(Default)]
pub struct Writes {
    parts: Vec<Part>,
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

    /// Adds an insert of `E` rows whose values read what the parts added
    /// before it write (a number another part just moved forward): it
    /// runs after them, as a statement of its own.
    pub fn insert_reading<E: EntityTrait>(&mut self, insert: InsertStatement) {
        self.parts.push(Part {
            table: E::default().table_name(),
            reads_earlier: true,
            statement: insert.into(),
        });
    }

    fn add<E: EntityTrait>(&mut self, part: SubQueryStatement) {
        self.parts.push(Part {
            table: E::default().table_name(),
            reads_earlier: false,
            statement: part,
        });
    }

    /// Runs every write, in as few statements as the backend allows.
    pub async fn run<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            for part in self.parts {
                execute(db, part.statement).await?;
            }
            return Ok(());
        }
        for group in groups(self.parts) {
            execute(db, combined(group)).await?;
        }
        Ok(())
    }
}

/// Splits the parts, in order, where a table comes back or a part reads
/// what earlier ones write.
fn groups(parts: Vec<Part>) -> Vec<Vec<SubQueryStatement>> {
    let mut groups: Vec<(Vec<&'static str>, Vec<SubQueryStatement>)> = Vec::new();
    for Part {
        table,
        reads_earlier,
        statement,
    } in parts
    {
        match groups.last_mut() {
            Some((tables, group)) if !reads_earlier && !tables.contains(&table) => {
                tables.push(table);
                group.push(statement);
            }
            _ => groups.push((vec![table], vec![statement])),
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
