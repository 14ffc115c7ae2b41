//! Reading columns the same way from both backends' rows.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// The column reads the store needs, for either backend's rows.
pub(crate) trait RowExt {
    fn int(&self, c: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, c: &str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, c: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, c: &str) -> Result<Option<String>, sqlx::Error>;
    /// A boolean: an INTEGER 0/1 on SQLite, a BOOLEAN on PostgreSQL.
    fn flag(&self, c: &str) -> Result<bool, sqlx::Error>;
    /// Bytes: a BLOB on SQLite, a BYTEA on PostgreSQL.
    fn blob(&self, c: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, c: &str) -> Result<i64, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_int(&self, c: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(c)
            }
            fn text(&self, c: &str) -> Result<String, sqlx::Error> {
                self.try_get(c)
            }
            fn opt_text(&self, c: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(c)
            }
            fn flag(&self, c: &str) -> Result<bool, sqlx::Error> {
                Self::flag_impl(self, c)
            }
            fn blob(&self, c: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(c)
            }
        }
    };
}

trait FlagImpl {
    fn flag_impl(&self, c: &str) -> Result<bool, sqlx::Error>;
}

impl FlagImpl for SqliteRow {
    fn flag_impl(&self, c: &str) -> Result<bool, sqlx::Error> {
        Ok(self.try_get::<i64, _>(c)? != 0)
    }
}

impl FlagImpl for PgRow {
    fn flag_impl(&self, c: &str) -> Result<bool, sqlx::Error> {
        self.try_get(c)
    }
}

impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);
