//! Locales: the desk's strings in English, Arabic and Hebrew (Fluent), the layout direction of
//! each, and numbers written the locale's way.
//!
//! ```
//! use lucarne_app::i18n::{Arg, Locale, strip_isolates};
//! use lucarne::widgets::Direction;
//!
//! let locale = Locale::Ar;
//! assert_eq!(locale.direction(), Direction::Rtl);
//! assert_eq!(locale.tr("column-total"), "الإجمالي");
//! let line = locale.tr_args("status-line", &[("shown", Arg::from(12)), ("pending", Arg::from(0)), ("sent", Arg::from(3))]);
//! assert_eq!(strip_isolates(&line), "الطلبات المعروضة: ١٢ · الأوامر المعلّقة: ٠ · المؤكَّدة: ٣");
//! assert_eq!(Locale::En.number(1234.5, 2), "1,234.50");
//! assert_eq!(Locale::parse("he_IL.UTF-8"), Some(Locale::He));
//! ```
//!
//! The messages live in `assets/locales/<code>/app.ftl`, compiled into the binary. [`MESSAGES`]
//! lists every message with its arguments; a unit test checks that each locale defines exactly
//! those, with exactly those arguments, and that each formats without error.
//!
//! Choices:
//! - A [`Locale`] is a plain `Copy` value: keep it in the app's state and switch it in `update`
//!   (switching at runtime is changing a field; the bundles are built once, on first use).
//! - Arguments are wrapped in Unicode isolates (U+2068 … U+2069, Fluent's default), so that a
//!   Latin order id or path inside an Arabic sentence (and the reverse) keeps its place.
//!   [`strip_isolates`] removes them, for comparing in tests.
//! - Numbers (every numeric argument, and [`Locale::number`]) are formatted by a small formatter
//!   of our own, not ICU: grouping by thousands, `.` / `,` in English and Hebrew, Arabic-Indic
//!   digits with `٫` and `٬` in Arabic (CLDR's default numbering system for `ar`). Plural
//!   categories come from Fluent (`intl_pluralrules`, CLDR). The desk shows no dates.
//!
//! # How the desk uses it
//!
//! The desk keeps a `locale: Locale` (`Config::locale`; the desktop binary takes `--locale`, else
//! [`Locale::from_env`]) and a `Message::Locale(Locale)` that sets it (the language buttons in
//! its header) and rebuilds the table's rows. In `view`, every literal is a lookup, and layout
//! follows the locale's direction (a sketch; `desk.rs` has the whole of it):
//!
//! ```ignore
//! use lucarne::widgets::{dir_row, bidi_text, bidi_input};
//! let l = desk.locale;
//! let header = dir_row(l.direction(), [
//!     bidi_text(l.tr("app-title")).size(22).into(),
//!     space::horizontal().into(),
//!     export_button(&l.tr("export-pdf"), Screen::Main),
//!     connection_status(&desk.connection)
//!         .labels(move |c, now| l.connection_label(c, now))
//!         .direction(l.direction())
//!         .into(),
//! ]);
//! let filter = bidi_input(&l.tr("filter-placeholder"), &desk.filter).direction(l.direction());
//! let columns = COLUMNS.iter().map(|spec| Column::new(l.tr(spec.key)) /* … */);
//! Cell::number(order.total, l.number(order.total, 2));
//! Cell::actions(Action::ALL.map(|a| (l.tr(a.key()), enabled)));
//! // title: l.tr_args("window-title", &[("orders", Arg::from(desk.table.len()))])
//! ```

use lucarne::iced::time::Instant;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use lucarne::widgets::{Connection, Direction};
use unic_langid::LanguageIdentifier;

/// A value given to a message's argument: a string or a number (`Arg::from(3)`,
/// `Arg::from("o-42")`).
pub use fluent_bundle::FluentValue as Arg;

/// A language the desk speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    /// English.
    #[default]
    En,
    /// Arabic (right to left, Arabic-Indic digits).
    Ar,
    /// Hebrew (right to left).
    He,
}

/// Every message of the desk, with the names of its arguments: the contract between the code and
/// the `.ftl` files.
pub const MESSAGES: &[(&str, &[&str])] = &[
    ("locale-name", &[]),
    ("language", &[]),
    ("app-title", &[]),
    ("window-title", &["orders"]),
    ("window-title-pending", &["orders", "pending"]),
    ("export-pdf", &[]),
    ("export-orders", &[]),
    ("filter-placeholder", &[]),
    ("apply", &[]),
    ("notify-me", &[]),
    ("search-placeholder", &[]),
    ("search-found", &["found"]),
    ("search-clear", &[]),
    ("dismiss", &[]),
    ("column-order", &[]),
    ("column-customer", &[]),
    ("column-region", &[]),
    ("column-total", &[]),
    ("column-status", &[]),
    ("column-actions", &[]),
    ("column-updated", &[]),
    ("action-pay", &[]),
    ("action-ship", &[]),
    ("action-cancel", &[]),
    ("status-placed", &[]),
    ("status-paid", &[]),
    ("status-shipped", &[]),
    ("status-cancelled", &[]),
    ("status-pending", &["status"]),
    ("connection-connecting", &[]),
    ("connection-live", &[]),
    ("connection-resyncing", &[]),
    ("connection-offline", &[]),
    ("connection-retrying", &[]),
    ("connection-retrying-in", &["seconds"]),
    ("sales-by-region", &[]),
    ("summary-region", &[]),
    ("summary-orders", &[]),
    ("summary-revenue", &[]),
    ("status-line", &["shown", "pending", "sent"]),
    ("notice-saved", &["path", "pages", "ms"]),
    ("notice-save-failed", &["path", "error"]),
    ("notice-export-failed", &["screen", "error"]),
    ("notice-exporting", &[]),
    ("notice-notify-on", &[]),
    ("notice-notify-failed", &["reason"]),
    ("push-title", &["order", "status"]),
    ("push-body", &["customer", "total"]),
    ("notice-query-refused", &["code", "message"]),
    ("notice-command-failed", &["action", "order", "reason"]),
    ("notice-command-done", &["action", "order"]),
    ("reason-connection-stopped", &[]),
    ("pdf-subject-main", &[]),
    ("pdf-subject-orders", &[]),
    ("pdf-footer", &["page", "pages"]),
    ("pdf-filter", &["filter"]),
    ("pdf-printed", &["date"]),
];

/// The `.ftl` sources, compiled in.
const SOURCES: [&str; 3] = [
    include_str!("../../assets/locales/en/app.ftl"),
    include_str!("../../assets/locales/ar/app.ftl"),
    include_str!("../../assets/locales/he/app.ftl"),
];

impl Locale {
    /// The locales, in the order of a language menu.
    pub const ALL: [Locale; 3] = [Locale::En, Locale::Ar, Locale::He];

    /// Its BCP 47 language code.
    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ar => "ar",
            Locale::He => "he",
        }
    }

    /// The locale of a language tag or POSIX locale (`ar`, `ar-EG`, `he_IL.UTF-8`, `iw`), if the
    /// desk speaks its language.
    pub fn parse(tag: &str) -> Option<Locale> {
        let language = tag.split(['-', '_', '.', '@']).next().unwrap_or_default().to_ascii_lowercase();
        match language.as_str() {
            "en" => Some(Locale::En),
            "ar" => Some(Locale::Ar),
            "he" | "iw" => Some(Locale::He),
            _ => None,
        }
    }

    /// The locale asked for by `LUCARNE_LOCALE`, else `LC_ALL`, `LC_MESSAGES`, `LANG`; English
    /// when none names a language the desk speaks.
    pub fn from_env() -> Locale {
        ["LUCARNE_LOCALE", "LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find_map(|value| Locale::parse(&value))
            .unwrap_or_default()
    }

    /// Its layout direction.
    pub fn direction(self) -> Direction {
        Direction::of_language(self.code())
    }

    /// The message `key`, without arguments (its English text when this locale lacks it, `key`
    /// itself when no locale has it).
    pub fn tr(self, key: &str) -> String {
        self.tr_args(key, &[])
    }

    /// The message `key` with these arguments (numbers are formatted the locale's way).
    pub fn tr_args(self, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        let mut fluent = FluentArgs::with_capacity(args.len());
        for (name, value) in args {
            fluent.set(*name, value.clone());
        }
        [self, Locale::En]
            .into_iter()
            .find_map(|locale| format(bundle(locale), key, &fluent, &mut Vec::new()))
            .unwrap_or_else(|| key.to_owned())
    }

    /// `text` with its ASCII digits written in the locale's digits (Arabic-Indic in Arabic).
    pub fn digits(self, text: &str) -> String {
        match self {
            Locale::Ar => text
                .chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => char::from_u32(0x0660 + d).unwrap_or(c),
                    None => c,
                })
                .collect(),
            Locale::En | Locale::He => text.to_owned(),
        }
    }

    /// `value` with `fraction_digits` decimals, grouped by thousands, in the locale's digits.
    pub fn number(self, value: f64, fraction_digits: usize) -> String {
        format_number(self, value, fraction_digits, fraction_digits, true)
    }

    /// The connection badge's text (for [`ConnectionStatus::labels`](lucarne::widgets::ConnectionStatus::labels)).
    pub fn connection_label(self, connection: &Connection, now: Instant) -> String {
        match (connection, connection.retry_in(now)) {
            (Connection::Connecting, _) => self.tr("connection-connecting"),
            (Connection::Live, _) => self.tr("connection-live"),
            (Connection::Resyncing, _) => self.tr("connection-resyncing"),
            (Connection::Offline { .. }, None) => self.tr("connection-offline"),
            (Connection::Offline { .. }, Some(0)) => self.tr("connection-retrying"),
            (Connection::Offline { .. }, Some(seconds)) => {
                self.tr_args("connection-retrying-in", &[("seconds", Arg::from(seconds))])
            }
        }
    }
}

/// `text` without the Unicode isolates (U+2068, U+2069) Fluent puts around arguments.
pub fn strip_isolates(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '\u{2068}' | '\u{2069}')).collect()
}

type Bundle = FluentBundle<FluentResource>;

/// The bundle of a locale, built on first use.
fn bundle(locale: Locale) -> &'static Bundle {
    static BUNDLES: OnceLock<[Bundle; 3]> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| Locale::ALL.map(new_bundle));
    &bundles[locale as usize]
}

fn new_bundle(locale: Locale) -> Bundle {
    let language: LanguageIdentifier = locale.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![language]);
    // A syntax error drops only the broken entries (the unit test has none).
    let resource = FluentResource::try_new(SOURCES[locale as usize].to_owned()).unwrap_or_else(|(r, _)| r);
    // Duplicate ids keep the first (the unit test has none).
    let _ = bundle.add_resource(resource);
    bundle.set_formatter(Some(match locale {
        Locale::En => format_en,
        Locale::Ar => format_ar,
        Locale::He => format_he,
    }));
    bundle
}

/// Formats a message; `None` when the bundle has no such message (or it has no value).
fn format(
    bundle: &Bundle,
    key: &str,
    args: &FluentArgs<'_>,
    errors: &mut Vec<fluent_bundle::FluentError>,
) -> Option<String> {
    let pattern = bundle.get_message(key)?.value()?;
    let args = if args.iter().next().is_some() { Some(args) } else { None };
    Some(bundle.format_pattern(pattern, args, errors).into_owned())
}

fn format_en<M>(value: &Arg<'_>, _: &M) -> Option<String> {
    format_value(Locale::En, value)
}

fn format_ar<M>(value: &Arg<'_>, _: &M) -> Option<String> {
    format_value(Locale::Ar, value)
}

fn format_he<M>(value: &Arg<'_>, _: &M) -> Option<String> {
    format_value(Locale::He, value)
}

/// Numbers only; strings are left to Fluent.
fn format_value(locale: Locale, value: &Arg<'_>) -> Option<String> {
    let Arg::Number(number) = value else { return None };
    let options = &number.options;
    let min = options.minimum_fraction_digits.unwrap_or(0);
    let max = options.maximum_fraction_digits.unwrap_or(min.max(3)).max(min);
    Some(format_number(locale, number.value, min, max, options.use_grouping))
}

/// A number with `min..=max` decimals (trailing zeros dropped down to `min`), optionally grouped.
fn format_number(locale: Locale, value: f64, min: usize, max: usize, grouping: bool) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let fixed = format!("{:.*}", max, value.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut frac = frac.trim_end_matches('0').to_owned();
    while frac.len() < min {
        frac.push('0');
    }
    let (group, decimal) = match locale {
        Locale::Ar => ('\u{066C}', '\u{066B}'),
        Locale::En | Locale::He => (',', '.'),
    };
    let mut out = String::with_capacity(fixed.len() + 8);
    if value < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') {
        // CLDR's Arabic puts an Arabic letter mark before the sign so it stays on the left.
        if locale == Locale::Ar {
            out.push('\u{061C}');
        }
        out.push('-');
    }
    for (i, digit) in int.chars().enumerate() {
        if grouping && i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(digit);
    }
    if !frac.is_empty() {
        out.push(decimal);
        out.push_str(&frac);
    }
    // Arabic-Indic digits in Arabic: U+0660..U+0669.
    locale.digits(&out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The messages of an `.ftl` source and the variables each one uses (a line-level reading:
    /// a message starts at `id =` on column 0 and goes on over indented lines).
    fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in source.lines() {
            if line.starts_with(|c: char| c.is_ascii_lowercase()) {
                let (id, _) = line.split_once('=').expect("a message line has `=`");
                let id = id.trim().to_owned();
                assert!(out.insert(id.clone(), BTreeSet::new()).is_none(), "{id} defined twice");
                current = Some(id);
            } else if !line.starts_with(' ') {
                current = None;
            }
            if let Some(id) = &current {
                let vars = line.split('$').skip(1).map(|rest| {
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
                });
                out.get_mut(id).expect("current message").extend(vars);
            }
        }
        out
    }

    #[test]
    fn every_locale_has_every_message_with_its_arguments() {
        let expected: BTreeMap<String, BTreeSet<String>> = MESSAGES
            .iter()
            .map(|(id, args)| (id.to_string(), args.iter().map(|a| a.to_string()).collect()))
            .collect();
        for locale in Locale::ALL {
            let source = SOURCES[locale as usize];
            assert!(FluentResource::try_new(source.to_owned()).is_ok(), "{locale:?}: syntax errors");
            let found = messages(source);
            let missing: Vec<_> = expected.keys().filter(|id| !found.contains_key(*id)).collect();
            let extra: Vec<_> = found.keys().filter(|id| !expected.contains_key(*id)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{locale:?}: missing {missing:?}, unknown {extra:?}"
            );
            for (id, args) in &expected {
                assert_eq!(&found[id], args, "{locale:?}: arguments of {id}");
            }
        }
    }

    #[test]
    fn every_message_formats_without_errors_in_every_locale() {
        for locale in Locale::ALL {
            for (id, names) in MESSAGES {
                let mut args = FluentArgs::new();
                for name in *names {
                    args.set(
                        *name,
                        if matches!(
                            *name,
                            "path"
                                | "order"
                                | "reason"
                                | "error"
                                | "message"
                                | "code"
                                | "status"
                                | "screen"
                                | "action"
                                | "filter"
                                | "date"
                        ) {
                            Arg::from("x")
                        } else {
                            Arg::from(7)
                        },
                    );
                }
                let mut errors = Vec::new();
                let text = format(bundle(locale), id, &args, &mut errors)
                    .unwrap_or_else(|| panic!("{locale:?}: no {id}"));
                assert!(errors.is_empty(), "{locale:?} {id}: {errors:?}");
                assert!(!text.is_empty() && !text.contains(['{', '}', '$']), "{locale:?} {id}: {text}");
            }
        }
    }

    #[test]
    fn the_module_example_holds() {
        let line = Locale::Ar.tr_args(
            "status-line",
            &[("shown", Arg::from(12)), ("pending", Arg::from(0)), ("sent", Arg::from(3))],
        );
        assert_eq!(strip_isolates(&line), "الطلبات المعروضة: ١٢ · الأوامر المعلّقة: ٠ · المؤكَّدة: ٣");
        assert_eq!(Locale::En.number(1234.5, 2), "1,234.50");
        assert_eq!(Locale::parse("he_IL.UTF-8"), Some(Locale::He));
        assert_eq!(Locale::Ar.tr("column-total"), "الإجمالي");
    }

    #[test]
    fn strings_are_translated_and_switch_with_the_locale() {
        let check = |key: &str, en: &str, ar: &str, he: &str| {
            assert_eq!(Locale::En.tr(key), en);
            assert_eq!(Locale::Ar.tr(key), ar);
            assert_eq!(Locale::He.tr(key), he);
        };
        check("column-total", "Total", "الإجمالي", "סה״כ");
        check("action-cancel", "Cancel", "إلغاء", "ביטול");
        check("sales-by-region", "Sales by region", "المبيعات حسب المنطقة", "מכירות לפי אזור");
        assert_eq!(Locale::Ar.tr("no-such-message"), "no-such-message");
    }

    #[test]
    fn plurals_follow_each_language() {
        let check = |locale: Locale, orders: u64, expected: &str| {
            let title = locale.tr_args("window-title", &[("orders", Arg::from(orders))]);
            assert_eq!(strip_isolates(&title), expected, "{locale:?} {orders}");
        };
        check(Locale::En, 1, "Lucarne order desk · 1 order");
        check(Locale::En, 1200, "Lucarne order desk · 1,200 orders");
        check(Locale::Ar, 0, "مكتب طلبات لوكارن · لا طلبات");
        check(Locale::Ar, 2, "مكتب طلبات لوكارن · طلبان");
        check(Locale::Ar, 3, "مكتب طلبات لوكارن · ٣ طلبات");
        check(Locale::Ar, 11, "مكتب طلبات لوكارن · ١١ طلبًا");
        check(Locale::Ar, 100, "مكتب طلبات لوكارن · ١٠٠ طلب");
        check(Locale::He, 1, "דלפק ההזמנות של Lucarne · הזמנה אחת");
        check(Locale::He, 5, "דלפק ההזמנות של Lucarne · 5 הזמנות");
        let failed = Locale::He.tr_args(
            "notice-command-failed",
            &[("action", Arg::from("ship")), ("order", Arg::from("o-7")), ("reason", Arg::from("x"))],
        );
        assert_eq!(strip_isolates(&failed), "לא ניתן לשלוח את ההזמנה o-7: x");
        // The argument is isolated, so "o-7" stays one left-to-right island in the sentence.
        assert!(failed.contains("\u{2068}o-7\u{2069}"));
    }

    #[test]
    fn numbers_are_written_the_locale_s_way() {
        let check = |locale: Locale, value: f64, digits: usize, expected: &str| {
            assert_eq!(locale.number(value, digits), expected, "{locale:?} {value}");
        };
        check(Locale::En, 1234.5, 2, "1,234.50");
        check(Locale::En, 999.0, 0, "999");
        check(Locale::En, 1_000_000.0, 0, "1,000,000");
        check(Locale::En, -42.126, 2, "-42.13");
        check(Locale::He, 1234.5, 2, "1,234.50");
        check(Locale::Ar, 1234.5, 2, "١٬٢٣٤٫٥٠");
        check(Locale::Ar, 42.0, 0, "٤٢");
        check(Locale::Ar, -7.0, 0, "\u{061C}-٧");
        check(Locale::En, -0.001, 2, "0.00");
    }

    #[test]
    fn locales_come_from_tags_and_have_a_direction() {
        let check = |tag: &str, expected: Option<Locale>| assert_eq!(Locale::parse(tag), expected, "{tag}");
        check("ar", Some(Locale::Ar));
        check("ar-EG", Some(Locale::Ar));
        check("he_IL.UTF-8", Some(Locale::He));
        check("iw", Some(Locale::He));
        check("EN_us", Some(Locale::En));
        check("fr_FR", None);
        check("", None);
        assert_eq!(Locale::En.direction(), Direction::Ltr);
        assert_eq!(Locale::Ar.direction(), Direction::Rtl);
        assert_eq!(Locale::He.direction(), Direction::Rtl);
    }

    #[test]
    fn the_badge_speaks_the_locale() {
        let now = Instant::now();
        let offline = Connection::Offline {
            retry_at: Some(now + std::time::Duration::from_secs(4)),
            reason: String::new(),
        };
        assert_eq!(
            strip_isolates(&Locale::Ar.connection_label(&offline, now)),
            "غير متصل · إعادة المحاولة خلال ٤ ث"
        );
        assert_eq!(Locale::He.connection_label(&Connection::Live, now), "מחובר");
        assert_eq!(strip_isolates(&Locale::En.connection_label(&offline, now)), "Offline · retrying in 4 s");
    }
}
