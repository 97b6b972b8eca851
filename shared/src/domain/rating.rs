/// A review's rating: 1 to 5 stars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rating(i16);

impl Rating {
    pub fn parse(raw: i64) -> Result<Self, &'static str> {
        match raw {
            1..=5 => Ok(Self(raw as i16)),
            _ => Err("must be between 1 and 5"),
        }
    }

    pub fn get(self) -> i16 {
        self.0
    }
}
