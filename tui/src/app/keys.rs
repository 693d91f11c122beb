//! What the keys and the mouse do, screen by screen and mode by mode.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use lucarne_runtime::Query;
use serde_json::{Map, Value};

use super::input::Input;
use super::rows::Sort;
use super::{Action, App, Effect, Field, Mode, Notice, Pending, RowAction, Screen};
use crate::bidi::Bidi;

impl App {
    pub(super) fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return vec![Effect::Quit];
        }
        match std::mem::replace(&mut self.mode, Mode::Browse) {
            Mode::Query { fields, focus } => self.query_key(key, fields, focus),
            Mode::Command(input) => self.command_key(key, input),
            Mode::Detail => {
                if !matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q')) {
                    self.mode = Mode::Detail;
                    return self.browse_key(key);
                }
                Vec::new()
            }
            Mode::Browse => match self.screen {
                Screen::Views => self.list_key(key),
                Screen::Table => self.browse_key(key),
            },
        }
    }

    fn list_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.view_selected = self.view_selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.view_selected = (self.view_selected + 1).min(self.views.len().saturating_sub(1));
            }
            KeyCode::Enter => {
                if let Some(view) = self.views.get(self.view_selected) {
                    let (query, rows) = (Query::view(view.name.clone()), view.rows);
                    return self.open(query, Some(rows));
                }
            }
            KeyCode::Char('r') => return vec![Effect::ListViews],
            KeyCode::Char('q') | KeyCode::Esc => return vec![Effect::Quit],
            _ => {}
        }
        Vec::new()
    }

    fn browse_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let page = self.page();
        let columns = self.rows.columns().len();
        // In a right-to-left table the columns run from the right: ← moves to the next.
        let (back, on) = if self.options.locale.is_rtl() {
            (KeyCode::Right, KeyCode::Left)
        } else {
            (KeyCode::Left, KeyCode::Right)
        };
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_to(self.selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.move_to(self.selected + 1),
            KeyCode::PageUp => self.move_to(self.selected.saturating_sub(page)),
            KeyCode::PageDown => self.move_to(self.selected + page),
            KeyCode::Home | KeyCode::Char('g') => self.move_to(0),
            KeyCode::End | KeyCode::Char('G') => self.move_to(usize::MAX),
            code if code == back || code == KeyCode::Char('h') => self.column = self.column.saturating_sub(1),
            code if code == on || code == KeyCode::Char('l') => {
                self.column = (self.column + 1).min(columns.saturating_sub(1));
            }
            KeyCode::Char('b') => {
                self.options.bidi = match self.options.bidi {
                    Bidi::Visual => Bidi::Terminal,
                    Bidi::Terminal => Bidi::Visual,
                };
            }
            KeyCode::Char('/') => {
                // After a refusal the refused query is edited, the caret where the server pointed.
                let (query, focus, column) = match &self.notice {
                    Some(Notice::BadQuery { field, column, tried, .. }) => {
                        (Some(tried.clone()), *field, *column)
                    }
                    _ => (self.query.clone(), Field::Where, None),
                };
                let query = query.unwrap_or_else(|| Query::view(""));
                let mut fields = [
                    Input::new(query.filter.unwrap_or_default()),
                    Input::new(query.order_by.unwrap_or_default()),
                    Input::new(query.limit.map(|l| l.to_string()).unwrap_or_default()),
                ];
                if let Some(column) = column {
                    fields[focus as usize].set_caret(column);
                }
                self.mode = Mode::Query { fields, focus };
            }
            KeyCode::Char(':') => self.mode = Mode::Command(Input::default()),
            KeyCode::Enter if self.key_at(self.selected).is_some() => self.mode = Mode::Detail,
            KeyCode::Char('q') | KeyCode::Esc => {
                self.screen = Screen::Views;
                self.query = None;
                self.good = None;
                self.mode = Mode::Browse;
                return vec![Effect::Unsubscribe, Effect::ListViews];
            }
            KeyCode::Char('s') => return self.sort_by(self.column),
            KeyCode::Char(c) => {
                if let Some(action) = self.options.actions.iter().find(|a| a.key == c).cloned() {
                    return self.act(&action);
                }
            }
            _ => {}
        }
        self.rewindow()
    }

    /// Sorts by a column; again on the same column turns the order round. A window of a large
    /// view is sorted by the server: the view is watched again in that order, from its start.
    fn sort_by(&mut self, column: usize) -> Vec<Effect> {
        let Some(name) = self.rows.columns().get(column).cloned() else { return Vec::new() };
        let descending = self.rows.sort_order().first() == Some((name.as_str(), false));
        if self.windowed().is_some() {
            let Some(mut query) = self.query.clone() else { return Vec::new() };
            query.order_by = Some(if descending { format!("{name} DESC") } else { name });
            if let Some(w) = &mut self.window {
                w.asked = 0;
            }
            (self.selected, self.top) = (0, 0);
            return self.apply(query);
        }
        let kept = self.selected_key();
        self.rows.sort(Sort::by(name, descending));
        self.follow(kept);
        Vec::new()
    }

    fn act(&mut self, action: &Action) -> Vec<Effect> {
        let Some(text) = self.selected_key() else { return Vec::new() };
        let Some((key, row)) = self.rows.get(&text) else { return Vec::new() };
        let payload: Map<String, Value> =
            action.columns.iter().filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone()))).collect();
        let change = RowAction {
            command: action.command.clone(),
            payload: Value::Object(payload),
            key: key.clone(),
            shows: action.shows.clone(),
        };
        self.notice = Some(Notice::Sending { command: labelled(&change) });
        vec![Effect::Act(change)]
    }

    fn send(&mut self, name: String, payload: Value) -> Vec<Effect> {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push(Pending { id, command: name.clone() });
        self.notice = Some(Notice::Sending { command: name.clone() });
        vec![Effect::Send { id, name, payload }]
    }

    fn query_key(&mut self, key: KeyEvent, mut fields: [Input; 3], mut focus: Field) -> Vec<Effect> {
        let input = &mut fields[focus as usize];
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Tab | KeyCode::BackTab => {
                focus = match (focus, key.code == KeyCode::BackTab) {
                    (Field::Where, false) | (Field::Limit, true) => Field::OrderBy,
                    (Field::OrderBy, false) | (Field::Where, true) => Field::Limit,
                    (Field::Limit, false) | (Field::OrderBy, true) => Field::Where,
                };
            }
            KeyCode::Enter => {
                let Some(view) = self.query.as_ref().map(|q| q.view.clone()) else { return Vec::new() };
                let text =
                    |i: Field| Some(fields[i as usize].value().trim().to_owned()).filter(|t| !t.is_empty());
                let limit = match text(Field::Limit).map(|l| l.parse::<u64>()) {
                    None => None,
                    Some(Ok(limit)) => Some(limit),
                    Some(Err(_)) => {
                        let tried = Query {
                            view,
                            filter: text(Field::Where),
                            order_by: text(Field::OrderBy),
                            limit: None,
                            offset: None,
                        };
                        self.notice = Some(Notice::BadQuery {
                            field: Field::Limit,
                            column: Some(0),
                            message: "a whole number of rows".into(),
                            tried,
                        });
                        self.mode = Mode::Query { fields, focus: Field::Limit };
                        return Vec::new();
                    }
                };
                let query = Query {
                    view,
                    filter: text(Field::Where),
                    order_by: text(Field::OrderBy),
                    limit,
                    offset: None,
                };
                return self.apply(query);
            }
            _ => edit(input, key),
        }
        self.mode = Mode::Query { fields, focus };
        Vec::new()
    }

    fn command_key(&mut self, key: KeyEvent, mut input: Input) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => {
                let text = input.value().trim();
                let (name, payload) = text.split_once(char::is_whitespace).unwrap_or((text, "{}"));
                match serde_json::from_str::<Value>(payload) {
                    Ok(payload) if !name.is_empty() => return self.send(name.to_owned(), payload),
                    Ok(_) => {
                        self.notice = Some(Notice::Error("a command's name, then its JSON payload".into()))
                    }
                    Err(e) => self.notice = Some(Notice::Error(format!("payload: {e}"))),
                }
            }
            _ => edit(&mut input, key),
        }
        self.mode = Mode::Command(input);
        Vec::new()
    }

    pub(super) fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if self.screen != Screen::Table || !matches!(self.mode, Mode::Browse | Mode::Detail) {
            return Vec::new();
        }
        match mouse.kind {
            MouseEventKind::ScrollDown => self.move_to(self.selected + 3),
            MouseEventKind::ScrollUp => self.move_to(self.selected.saturating_sub(3)),
            MouseEventKind::Down(MouseButton::Left) => {
                // Lines: title, query bar, the table's header, its rows.
                let header = 2;
                let table = crate::view::table_area(self);
                if !(table.x..table.x + table.width).contains(&mouse.column) {
                    return Vec::new();
                }
                if mouse.row == header {
                    let x = mouse.column - table.x;
                    if let Some(column) =
                        crate::view::table::layout(self, table.width).iter().find(|c| c.contains(x))
                    {
                        self.column = column.index;
                        return self.sort_by(column.index);
                    }
                } else if mouse.row > header && mouse.row < self.size.1.saturating_sub(2) {
                    let at = self.top + usize::from(mouse.row - header - 1);
                    if at < self.len() {
                        self.move_to(at);
                    }
                }
            }
            _ => {}
        }
        self.rewindow()
    }
}

/// A row action named with its row: `pay_order "o-2"`.
pub(super) fn labelled(change: &RowAction) -> String {
    format!("{} {}", change.command, change.key)
}

/// A key typed into a line (Ctrl-U empties it).
fn edit(input: &mut Input, key: KeyEvent) {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        if key.code == KeyCode::Char('u') {
            *input = Input::default();
        }
        return;
    }
    match key.code {
        KeyCode::Char(c) => input.insert(c),
        KeyCode::Backspace => input.backspace(),
        KeyCode::Delete => input.delete(),
        KeyCode::Left => input.left(),
        KeyCode::Right => input.right(),
        KeyCode::Home => input.home(),
        KeyCode::End => input.end(),
        _ => {}
    }
}
