use crate::graphql::scalars::CalendarDate;
use async_graphql::{Context, InputObject, Object};

use crate::{
    customer::ProfileChange,
    graphql::{
        caller::{app, require_user},
        errors::ApiResult,
        types::{Address, User},
    },
};

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<CalendarDate>,
    pub address: Option<Address>,
}

#[derive(Default)]
pub struct ProfileMutations;

#[Object]
impl ProfileMutations {
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> ApiResult<User> {
        let who = require_user(ctx)?;
        let change = ProfileChange {
            first_name: input.first_name,
            last_name: input.last_name,
            phone: input.phone,
            date_of_birth: input.date_of_birth.map(|d| d.0),
            address: input.address.map(Into::into),
        };
        let (user, _) = app(ctx)
            .customers
            .update_profile(who.user_id, change)
            .await?;
        Ok(User::from(user))
    }
}
