use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CustomerError, Customers};
use crate::{
    audit::{self, AuditEvent},
    auth::{parse_name, parse_phone},
    db,
    validation::InvalidInput,
};
use entity::{user_profiles, users};

/// A postal address, stored as the profile's JSON `address`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl Address {
    pub fn parse(self) -> Result<Self, InvalidInput> {
        let text = |field: &'static str, v: &str, required: bool| -> Result<String, InvalidInput> {
            let v = v.trim();
            if (required && v.is_empty())
                || v.chars().count() > 100
                || v.chars().any(char::is_control)
            {
                return Err(InvalidInput::new(field, "must be 1 to 100 characters"));
            }
            Ok(v.to_owned())
        };
        let optional =
            |field: &'static str, v: Option<String>| -> Result<Option<String>, InvalidInput> {
                v.map(|v| text(field, &v, false))
                    .transpose()
                    .map(|v| v.filter(|s| !s.is_empty()))
            };
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidInput::new(
                "address.country",
                "must be a two-letter ISO 3166 code",
            ));
        }
        Ok(Self {
            line1: text("address.line1", &self.line1, true)?,
            line2: optional("address.line2", self.line2)?,
            city: text("address.city", &self.city, true)?,
            region: optional("address.region", self.region)?,
            postal_code: text("address.postalCode", &self.postal_code, true)?,
            country,
        })
    }
}

/// What `updateProfile` may change; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub address: Option<Address>,
}

/// Customers must be adults; nobody is older than this.
const MIN_AGE_YEARS: u32 = 18;
const MAX_AGE_YEARS: u32 = 130;

fn check_birth_date(dob: NaiveDate, today: NaiveDate) -> Result<NaiveDate, InvalidInput> {
    let age = today.years_since(dob);
    match age {
        Some(a) if (MIN_AGE_YEARS..=MAX_AGE_YEARS).contains(&a) => Ok(dob),
        _ => Err(InvalidInput::new(
            "dateOfBirth",
            format!("must make you {MIN_AGE_YEARS} or older"),
        )),
    }
}

impl Customers {
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        change: ProfileChange,
    ) -> Result<(users::Model, user_profiles::Model), CustomerError> {
        let today = chrono::Utc::now().date_naive();
        let first_name = change
            .first_name
            .as_deref()
            .map(|n| parse_name("firstName", n))
            .transpose()?;
        let last_name = change
            .last_name
            .as_deref()
            .map(|n| parse_name("lastName", n))
            .transpose()?;
        let phone = change.phone.as_deref().map(parse_phone).transpose()?;
        let dob = change
            .date_of_birth
            .map(|d| check_birth_date(d, today))
            .transpose()?;
        let address = change.address.map(Address::parse).transpose()?;

        let now = chrono::Utc::now();
        let txn = db::begin_write(&self.db).await?;
        let user = users::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or(CustomerError::NotFound)?;
        let profile = user_profiles::Entity::find()
            .filter(user_profiles::Column::UserId.eq(user_id))
            .one(&txn)
            .await?
            .ok_or(CustomerError::NotFound)?;
        let mut changed = Vec::new();
        let mut u = user.into_active_model();
        if let Some(v) = first_name {
            u.first_name = Set(v);
            changed.push("firstName");
        }
        if let Some(v) = last_name {
            u.last_name = Set(v);
            changed.push("lastName");
        }
        if let Some(v) = phone {
            u.phone = Set(Some(v));
            changed.push("phone");
        }
        u.updated_at = Set(now);
        let user = u.update(&txn).await?;
        let mut p = profile.into_active_model();
        if let Some(v) = dob {
            p.date_of_birth = Set(Some(v));
            changed.push("dateOfBirth");
        }
        if let Some(v) = address {
            p.address = Set(Some(serde_json::to_value(v).expect("address serialises")));
            changed.push("address");
        }
        p.updated_at = Set(now);
        let profile = p.update(&txn).await?;
        // The audit record names the fields, not their values: the log
        // must not become a second copy of personal data.
        let event = AuditEvent::by_user("customer", "profile.updated", user_id)
            .with_data(serde_json::json!({"fields": changed}));
        audit::record(&txn, event).await?;
        txn.commit().await?;
        Ok((user, profile))
    }
}

/// Every user's profile, for the per-request loader.
pub async fn profiles_of(
    db: &sea_orm::DatabaseConnection,
    user_ids: &[Uuid],
) -> Result<Vec<user_profiles::Model>, sea_orm::DbErr> {
    user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.is_in(user_ids.iter().copied()))
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_must_make_an_adult() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(check_birth_date(NaiveDate::from_ymd_opt(2008, 11, 25).unwrap(), today).is_ok());
        assert!(check_birth_date(NaiveDate::from_ymd_opt(2008, 11, 26).unwrap(), today).is_err());
        assert!(check_birth_date(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), today).is_err());
    }
}
