//! paygraph: the GraphQL backend of a digital wallet and P2P payments app.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod context;
pub mod crypto;
pub mod customer;
pub mod db;
pub mod four_eyes;
pub mod fraud;
pub mod graphql;
pub mod http;
#[cfg(test)]
mod layering;
pub mod ledger;
pub mod money;
pub mod pagination;
pub mod priority;
pub mod processor;
pub mod startup;
pub mod support;
pub mod telemetry;
pub mod validation;
