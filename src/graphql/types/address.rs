//! A postal address as the API takes and shows it.

use async_graphql::{InputObject, SimpleObject};

use crate::customer;

/// A postal address.
// One type for both directions: a profile shows the address it was given.
#[derive(SimpleObject, InputObject)]
#[graphql(name = "Address", input_name = "AddressInput")]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. "US".
    pub country: String,
}

impl From<customer::Address> for Address {
    fn from(a: customer::Address) -> Self {
        let customer::Address {
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        } = a;
        Self {
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        }
    }
}

impl From<Address> for customer::Address {
    fn from(a: Address) -> Self {
        let Address {
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        } = a;
        Self {
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        }
    }
}
