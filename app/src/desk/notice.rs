//! The notice line: what happened (a file saved, a command rejected, a filter refused), kept
//! as data and worded when shown, so that it follows a switch of language.

use super::{Action, Screen};
use crate::i18n::{Arg, Locale};

/// A notice, kept as data and worded when shown, so that it follows a switch of language.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Notice {
    Saved {
        path: String,
        pages: usize,
        ms: u64,
    },
    #[cfg_attr(target_arch = "wasm32", allow(dead_code, reason = "the browser's page downloads the file"))]
    SaveFailed {
        path: String,
        error: String,
    },
    ExportFailed {
        screen: Screen,
        error: String,
    },
    /// The browser's PDF module is printing a screen (it is loaded the first time).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "natively the export is done at once"))]
    Exporting,
    QueryRefused {
        code: String,
        message: String,
    },
    CommandFailed {
        action: Action,
        order: String,
        reason: Option<String>,
    },
    /// The server confirmed an action on an order.
    CommandDone {
        action: Action,
        order: String,
    },
    /// Notifications of the filter's orders are on.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "only the browser offers them"))]
    NotifyOn,
    /// Notifications could not be turned on.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "only the browser offers them"))]
    NotifyFailed {
        reason: String,
    },
}

impl Notice {
    /// Its text in `locale` (arguments isolated: a path or an order id keeps its place in a
    /// right-to-left sentence).
    pub(super) fn text(&self, locale: Locale) -> String {
        match self {
            Notice::Saved { path, pages, ms } => locale.tr_args(
                "notice-saved",
                &[("path", Arg::from(path.as_str())), ("pages", Arg::from(*pages)), ("ms", Arg::from(*ms))],
            ),
            Notice::SaveFailed { path, error } => locale.tr_args(
                "notice-save-failed",
                &[("path", Arg::from(path.as_str())), ("error", Arg::from(error.as_str()))],
            ),
            Notice::ExportFailed { screen, error } => locale.tr_args(
                "notice-export-failed",
                &[("screen", Arg::from(screen.name())), ("error", Arg::from(error.as_str()))],
            ),
            Notice::Exporting => locale.tr("notice-exporting"),
            Notice::NotifyOn => locale.tr("notice-notify-on"),
            Notice::NotifyFailed { reason } => {
                locale.tr_args("notice-notify-failed", &[("reason", Arg::from(reason.as_str()))])
            }
            Notice::QueryRefused { code, message } => locale.tr_args(
                "notice-query-refused",
                &[("code", Arg::from(code.as_str())), ("message", Arg::from(message.as_str()))],
            ),
            Notice::CommandDone { action, order } => locale.tr_args(
                "notice-command-done",
                &[("action", Arg::from(action.name())), ("order", Arg::from(order.as_str()))],
            ),
            Notice::CommandFailed { action, order, reason } => {
                let reason = reason.clone().unwrap_or_else(|| locale.tr("reason-connection-stopped"));
                locale.tr_args(
                    "notice-command-failed",
                    &[
                        ("action", Arg::from(action.name())),
                        ("order", Arg::from(order.as_str())),
                        ("reason", Arg::from(reason)),
                    ],
                )
            }
        }
    }
}
