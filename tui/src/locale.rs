//! The words of the terminal client's own chrome in English, Arabic and Hebrew (the rows are the
//! server's and shown as they are).
//!
//! ```
//! use lucarne_tui::locale::{Locale, Label};
//!
//! assert_eq!(Locale::of("he_IL.UTF-8"), Locale::He);
//! assert_eq!(Locale::Ar.text(Label::Live), "مباشر");
//! assert_eq!(Locale::Ar.number(42), "٤٢");
//! ```

/// A language of the chrome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Locale {
    /// English.
    #[default]
    En,
    /// Arabic (right to left, Arabic-Indic digits).
    Ar,
    /// Hebrew (right to left).
    He,
}

/// A piece of the chrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The view list's title.
    Views,
    /// After a count of rows.
    Rows,
    /// Connection: opening.
    Connecting,
    /// Connection: up to date.
    Live,
    /// Connection: a fresh copy is coming.
    Resyncing,
    /// Connection: none (followed by the countdown).
    Offline,
    /// Before the seconds until the next try.
    RetryIn,
    /// The query bar's fields.
    Where,
    /// The query bar's fields.
    OrderBy,
    /// The query bar's fields.
    Limit,
    /// The command prompt.
    Command,
    /// A command on its way.
    Sending,
    /// A command accepted.
    Accepted,
    /// Before a log position.
    At,
    /// A command refused.
    Rejected,
    /// The keys of the view list.
    ListKeys,
    /// The keys of the table.
    TableKeys,
    /// The keys while typing.
    EditKeys,
    /// The row detail's title.
    Detail,
}

impl Locale {
    /// The locale of a language tag or `LANG` value (`ar`, `he_IL.UTF-8`); English otherwise.
    pub fn of(tag: &str) -> Locale {
        let lang = tag.split(['_', '-', '.']).next().unwrap_or_default().to_ascii_lowercase();
        match lang.as_str() {
            "ar" => Locale::Ar,
            "he" | "iw" => Locale::He,
            _ => Locale::En,
        }
    }

    /// True for the right-to-left languages: the table's columns run from the right.
    pub fn is_rtl(self) -> bool {
        matches!(self, Locale::Ar | Locale::He)
    }

    /// A number in the locale's digits.
    pub fn number(self, n: u64) -> String {
        let text = n.to_string();
        match self {
            Locale::Ar => {
                text.chars().map(|d| char::from_u32(d as u32 - '0' as u32 + 0x0660).unwrap_or(d)).collect()
            }
            Locale::En | Locale::He => text,
        }
    }

    /// The words of a label.
    pub fn text(self, label: Label) -> &'static str {
        use Label::*;
        match (self, label) {
            (Locale::En, Views) => "Views",
            (Locale::En, Rows) => "rows",
            (Locale::En, Connecting) => "connecting",
            (Locale::En, Live) => "live",
            (Locale::En, Resyncing) => "resyncing",
            (Locale::En, Offline) => "offline",
            (Locale::En, RetryIn) => "retry in",
            (Locale::En, Where) => "where",
            (Locale::En, OrderBy) => "order by",
            (Locale::En, Limit) => "limit",
            (Locale::En, Command) => "command",
            (Locale::En, Sending) => "sending",
            (Locale::En, Accepted) => "accepted",
            (Locale::En, At) => "at",
            (Locale::En, Rejected) => "rejected",
            (Locale::En, ListKeys) => "↑↓ choose · Enter open · r refresh · q quit",
            (Locale::En, TableKeys) => {
                "↑↓ rows · ←→ column · s sort · / query · Enter detail · : command · b bidi · q back"
            }
            (Locale::En, EditKeys) => "Tab next field · Enter apply · Ctrl-U clear · Esc cancel",
            (Locale::En, Detail) => "Row",
            (Locale::Ar, Views) => "العروض",
            (Locale::Ar, Rows) => "صفوف",
            (Locale::Ar, Connecting) => "جارٍ الاتصال",
            (Locale::Ar, Live) => "مباشر",
            (Locale::Ar, Resyncing) => "إعادة المزامنة",
            (Locale::Ar, Offline) => "غير متصل",
            (Locale::Ar, RetryIn) => "إعادة المحاولة بعد",
            (Locale::Ar, Where) => "حيث",
            (Locale::Ar, OrderBy) => "ترتيب حسب",
            (Locale::Ar, Limit) => "الحد",
            (Locale::Ar, Command) => "أمر",
            (Locale::Ar, Sending) => "جارٍ الإرسال",
            (Locale::Ar, Accepted) => "قُبل",
            (Locale::Ar, At) => "عند",
            (Locale::Ar, Rejected) => "رُفض",
            (Locale::Ar, ListKeys) => "↑↓ اختيار · Enter فتح · r تحديث · q خروج",
            (Locale::Ar, TableKeys) => {
                "↑↓ صفوف · ←→ عمود · s ترتيب · / استعلام · Enter تفاصيل · : أمر · q رجوع"
            }
            (Locale::Ar, EditKeys) => "Tab الحقل التالي · Enter تطبيق · Ctrl-U مسح · Esc إلغاء",
            (Locale::Ar, Detail) => "صف",
            (Locale::He, Views) => "תצוגות",
            (Locale::He, Rows) => "שורות",
            (Locale::He, Connecting) => "מתחבר",
            (Locale::He, Live) => "חי",
            (Locale::He, Resyncing) => "מסנכרן מחדש",
            (Locale::He, Offline) => "לא מחובר",
            (Locale::He, RetryIn) => "ניסיון נוסף בעוד",
            (Locale::He, Where) => "היכן",
            (Locale::He, OrderBy) => "מיון לפי",
            (Locale::He, Limit) => "הגבלה",
            (Locale::He, Command) => "פקודה",
            (Locale::He, Sending) => "שולח",
            (Locale::He, Accepted) => "התקבלה",
            (Locale::He, At) => "במיקום",
            (Locale::He, Rejected) => "נדחתה",
            (Locale::He, ListKeys) => "↑↓ בחירה · Enter פתיחה · r רענון · q יציאה",
            (Locale::He, TableKeys) => {
                "↑↓ שורות · ←→ עמודה · s מיון · / שאילתה · Enter פרטים · : פקודה · q חזרה"
            }
            (Locale::He, EditKeys) => "Tab השדה הבא · Enter החלה · Ctrl-U ניקוי · Esc ביטול",
            (Locale::He, Detail) => "שורה",
        }
    }
}
