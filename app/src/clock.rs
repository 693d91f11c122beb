//! When an order last changed, as the user reads it: the local time of day, or the date for an
//! earlier day, in the locale's digits. The local time zone is the machine's natively (jiff:
//! `TZ`, `/etc/localtime` and the system's tzdb) and the page's in the browser (`Date`).

use crate::i18n::Locale;

/// A moment on the local clock and calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub(crate) year: i32,
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) hour: u8,
    pub(crate) minute: u8,
    pub(crate) second: u8,
}

impl LocalTime {
    fn same_day(&self, other: &LocalTime) -> bool {
        (self.year, self.month, self.day) == (other.year, other.month, other.day)
    }
}

/// The local time of `ms` milliseconds since the Unix epoch; `None` out of range.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn local(ms: i64) -> Option<LocalTime> {
    let zoned = jiff::Timestamp::from_millisecond(ms).ok()?.to_zoned(jiff::tz::TimeZone::system());
    Some(LocalTime {
        year: i32::from(zoned.year()),
        month: u8::try_from(zoned.month()).ok()?,
        day: u8::try_from(zoned.day()).ok()?,
        hour: u8::try_from(zoned.hour()).ok()?,
        minute: u8::try_from(zoned.minute()).ok()?,
        second: u8::try_from(zoned.second()).ok()?,
    })
}

/// The local time of `ms` milliseconds since the Unix epoch; `None` out of range.
#[cfg(target_arch = "wasm32")]
pub(crate) fn local(ms: i64) -> Option<LocalTime> {
    let date = js_sys::Date::new_0();
    #[expect(clippy::cast_precision_loss, reason = "milliseconds of this era are below 2⁵³")]
    let _ = date.set_time(ms as f64);
    if date.get_time().is_nan() {
        return None;
    }
    Some(LocalTime {
        year: i32::try_from(date.get_full_year()).ok()?,
        month: u8::try_from(date.get_month() + 1).ok()?,
        day: u8::try_from(date.get_date()).ok()?,
        hour: u8::try_from(date.get_hours()).ok()?,
        minute: u8::try_from(date.get_minutes()).ok()?,
        second: u8::try_from(date.get_seconds()).ok()?,
    })
}

/// Milliseconds since the Unix epoch now.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch now.
#[cfg(target_arch = "wasm32")]
pub(crate) fn now_ms() -> i64 {
    #[expect(clippy::cast_possible_truncation, reason = "whole milliseconds of this era")]
    let now = js_sys::Date::now() as i64;
    now
}

/// The milliseconds of a view's number (`updated_ms` comes as a JSON number); `None` when it
/// is not a finite time of this era.
pub(crate) fn millis(value: f64) -> Option<i64> {
    if !value.is_finite() || value.abs() > 8.64e15 {
        return None;
    }
    #[expect(clippy::cast_possible_truncation, reason = "finite and within ±8.64e15 after the check")]
    let ms = value as i64;
    Some(ms)
}

/// When something happened, for a table cell: `HH:MM:SS` on the day `today`, else the date
/// `YYYY-MM-DD`, in the locale's digits.
pub(crate) fn when(locale: Locale, at: LocalTime, today: Option<LocalTime>) -> String {
    let text = if today.is_some_and(|d| d.same_day(&at)) {
        format!("{:02}:{:02}:{:02}", at.hour, at.minute, at.second)
    } else {
        format!("{:04}-{:02}-{:02}", at.year, at.month, at.day)
    };
    locale.digits(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> LocalTime {
        LocalTime { year, month, day, hour, minute, second }
    }

    #[test]
    fn today_shows_the_time_an_earlier_day_its_date() {
        let today = Some(at(2026, 12, 5, 18, 0, 0));
        assert_eq!(when(Locale::En, at(2026, 12, 5, 9, 4, 7), today), "09:04:07");
        assert_eq!(when(Locale::En, at(2026, 12, 4, 23, 59, 59), today), "2026-12-04");
        assert_eq!(when(Locale::Ar, at(2026, 12, 5, 9, 4, 7), today), "٠٩:٠٤:٠٧");
        assert_eq!(when(Locale::He, at(2026, 12, 5, 9, 4, 7), None), "2026-12-05");
    }

    #[test]
    fn a_timestamp_reads_back_on_the_local_clock() {
        // Two moments an hour apart are an hour apart on the local clock (whatever the zone,
        // away from a change of offset: these are in the middle of a day in December).
        let ms = 1_796_457_600_000; // 2026-12-05T12:00:00Z
        let (a, b) = (local(ms).expect("a time"), local(ms + 3_600_000).expect("a time"));
        assert_eq!((u32::from(b.hour) + 24 - u32::from(a.hour)) % 24, 1);
        assert_eq!((a.minute, a.second), (b.minute, b.second));
        assert_eq!(millis(1.796_457_6e12), Some(ms));
        assert_eq!(millis(f64::NAN), None);
        assert_eq!(millis(1e300), None);
    }
}
