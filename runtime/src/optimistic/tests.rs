//! The optimistic layer against a model of the server and the network, under random
//! interleavings of commands (the app's and another client's), deltas, answers, lost links,
//! resumes and resyncs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use lucarne_protocol::{Ack, CommandRef, Delta, ErrorCode, Key, Op, Position, ResyncReason, Row};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const ME: &str = "desk-1";
const OTHER: &str = "desk-2";
const EPOCH: u64 = 9;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Counter {
    n: i64,
}

/// The app's commands: add to a counter (creating it), or remove it (refused when missing).
/// The server refuses adding a multiple of 7; adding 0 appends no event.
#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Add(u8, i64),
    Remove(u8),
}

impl Change<Counter> for Edit {
    fn command(&self) -> (String, Value) {
        match self {
            Edit::Add(k, n) => ("add".into(), json!({ "k": k, "n": n })),
            Edit::Remove(k) => ("remove".into(), json!({ "k": k })),
        }
    }

    fn key(&self) -> Key {
        match self {
            Edit::Add(k, _) | Edit::Remove(k) => json!(k),
        }
    }

    fn apply(&self, row: Option<Counter>) -> Option<Counter> {
        match self {
            Edit::Add(_, n) => Some(Counter { n: row.map_or(0, |r| r.n) + n }),
            Edit::Remove(_) => None,
        }
    }

    fn from_command(name: &str, payload: &Value) -> Option<Self> {
        let k = u8::try_from(payload["k"].as_u64()?).ok()?;
        match name {
            "add" => Some(Edit::Add(k, payload["n"].as_i64()?)),
            "remove" => Some(Edit::Remove(k)),
            _ => None,
        }
    }
}

/// One step of the world.
#[derive(Debug, Clone)]
enum Step {
    /// The app sends an edit.
    Send(Edit),
    /// The server takes the next command in flight.
    Serve,
    /// Another client's edit is applied (its seq may equal one of ours).
    Other(Edit, u64),
    /// An event of another stream is appended (the log moves on, the view does not).
    Elsewhere,
    /// The next delta in flight reaches the app.
    Delta,
    /// One of the answers in flight reaches the app.
    Answer(usize),
    /// The server sends the view afresh on the same link (a resync): the deltas on their way
    /// are dropped, the answers are not.
    Resync,
    /// The link is lost: everything in flight is gone.
    Lose,
    /// The link is back: the subscription resumes (or resyncs), unanswered commands are resent.
    Reconnect { resume: bool },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0u8..3, -3i64..15).prop_map(|(k, n)| Edit::Add(k, n)),
        1 => (0u8..3).prop_map(Edit::Remove),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => edit().prop_map(Step::Send),
        4 => Just(Step::Serve),
        1 => (edit(), 1u64..6).prop_map(|(e, s)| Step::Other(e, s)),
        1 => Just(Step::Elsewhere),
        5 => Just(Step::Delta),
        4 => (0usize..8).prop_map(Step::Answer),
        1 => Just(Step::Resync),
        1 => Just(Step::Lose),
        1 => any::<bool>().prop_map(|resume| Step::Reconnect { resume }),
    ]
}

/// How the server numbers a view's versions.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Numbering {
    /// One server: one more per commit that changes the view.
    Commits,
    /// A cluster: the log position of the last event folded.
    Log,
}

/// The server, the link and what the app has been told.
struct World {
    numbering: Numbering,
    /// The view's rows at each of its versions.
    states: BTreeMap<u64, BTreeMap<u8, i64>>,
    /// The log's last position (every stream).
    position: u64,
    /// Every delta, in order.
    deltas: Vec<Delta>,
    /// Where each of the app's applied commands landed: (log position, view version); `0`s
    /// for a command that appended no event.
    applied: BTreeMap<u64, (u64, u64)>,
    /// What the app sent, by seq.
    sent: BTreeMap<u64, Edit>,
    /// Commands on their way to the server.
    to_server: VecDeque<u64>,
    /// Deltas on their way to the app.
    to_app: VecDeque<Delta>,
    /// Answers on their way to the app.
    answers: Vec<Answered>,
    /// Commands the app has an answer for, and whether it was a rejection.
    answered: BTreeMap<u64, bool>,
    /// Where the app learnt each of its commands was applied (a delta's `acked`: its version;
    /// an ack: its log position), as positions in Log numbering.
    learnt: BTreeMap<u64, u64>,
    /// Commands whose answer the app got as a duplicate (applied on an earlier link): dropped
    /// then, though a resume may not have brought their delta yet.
    duplicates: BTreeSet<u64>,
    /// Commands that were on their way (not answered) when a snapshot came: accepted, they are
    /// dropped then, though the snapshot may predate them.
    copied: BTreeSet<u64>,
    /// The version of the app's copy.
    version: u64,
    connected: bool,
    next_seq: u64,
}

impl World {
    fn new(numbering: Numbering) -> Self {
        World {
            numbering,
            states: BTreeMap::from([(0, BTreeMap::new())]),
            position: 0,
            deltas: Vec::new(),
            applied: BTreeMap::new(),
            sent: BTreeMap::new(),
            to_server: VecDeque::new(),
            to_app: VecDeque::new(),
            answers: Vec::new(),
            answered: BTreeMap::new(),
            learnt: BTreeMap::new(),
            duplicates: BTreeSet::new(),
            copied: BTreeSet::new(),
            version: 0,
            connected: true,
            next_seq: 0,
        }
    }

    /// The view's current version and rows.
    fn head(&self) -> (u64, BTreeMap<u8, i64>) {
        self.states.last_key_value().map(|(v, s)| (*v, s.clone())).unwrap_or_default()
    }

    /// The rows of the app's copy.
    fn copy(&self) -> &BTreeMap<u8, i64> {
        &self.states[&self.version]
    }

    /// The view afresh, as the app gets it: its version, and the commands it came during.
    fn snapshot(&mut self, view: &mut Optimistic<Counter, Edit>) {
        let (version, state) = self.head();
        let at = Position { epoch: EPOCH, version };
        view.apply(&ViewEvent::Snapshot {
            at,
            rows: World::rows(&state).into(),
            resynced: Some(ResyncReason::TooFarBehind),
        });
        self.version = version;
        let on_their_way =
            self.sent.keys().filter(|s| !self.answered.contains_key(s)).copied().collect::<Vec<_>>();
        self.copied.extend(on_their_way);
    }

    fn rows(state: &BTreeMap<u8, i64>) -> Vec<Row> {
        state.iter().map(|(k, n)| Row { key: json!(k), row: object(json!({ "n": n })) }).collect()
    }

    /// Decides and applies an edit: where it landed, `(log position, view version)` (`0`s: no
    /// event), or why it was refused.
    fn decide(&mut self, edit: &Edit, by: &str, seq: u64) -> Result<(u64, u64), String> {
        let (from, mut state) = self.head();
        let op = match edit {
            Edit::Add(_, n) if n % 7 == 0 && *n != 0 => return Err(format!("{n} is a multiple of 7")),
            Edit::Add(_, 0) => return Ok((0, 0)),
            Edit::Add(k, n) => {
                let total = state.get(k).copied().unwrap_or(0) + n;
                state.insert(*k, total);
                Op::Upsert { key: json!(k), row: object(json!({ "n": total })) }
            }
            Edit::Remove(k) => {
                if state.remove(k).is_none() {
                    return Err(format!("no counter {k}"));
                }
                Op::Remove { key: json!(k) }
            }
        };
        self.position += 1;
        let to = match self.numbering {
            Numbering::Commits => from + 1,
            Numbering::Log => self.position,
        };
        self.states.insert(to, state);
        let delta = Delta {
            sub: 1,
            from,
            to,
            ops: vec![op],
            acked: vec![CommandRef { client_id: by.to_owned(), seq }],
        };
        self.deltas.push(delta.clone());
        if self.connected {
            self.to_app.push_back(delta);
        }
        Ok((self.position, to))
    }

    fn serve(&mut self) {
        let Some(seq) = self.to_server.pop_front() else { return };
        let ack = |position: u64, duplicate: bool| Ack {
            id: seq,
            client_id: ME.into(),
            seq,
            position,
            events: u32::from(position > 0),
            duplicate,
        };
        let result = match self.applied.get(&seq) {
            Some(&(position, _)) => Ok(ack(position, true)),
            None => match self.decide(&self.sent[&seq].clone(), ME, seq) {
                Ok(landed) => {
                    self.applied.insert(seq, landed);
                    Ok(ack(landed.0, false))
                }
                Err(message) => Err(CommandError::Rejected { code: ErrorCode::Rejected, message }),
            },
        };
        self.answers.push(Answered { seq, result });
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The rows as the app must show them: its copy of the server's, with the changes still pending
/// folded over, oldest first.
fn shown<'a>(copy: &BTreeMap<u8, i64>, pending: impl Iterator<Item = &'a Edit>) -> BTreeMap<u8, i64> {
    let mut rows = copy.clone();
    for edit in pending {
        let key = match edit {
            Edit::Add(k, _) | Edit::Remove(k) => *k,
        };
        match edit.apply(rows.get(&key).map(|n| Counter { n: *n })) {
            Some(c) => rows.insert(key, c.n),
            None => rows.remove(&key),
        };
    }
    rows
}

fn numbers(view: &Optimistic<Counter, Edit>) -> BTreeMap<u8, i64> {
    view.iter().filter_map(|(k, c)| Some((u8::try_from(k.as_u64()?).ok()?, c.n))).collect()
}

fn check(numbering: Numbering, steps: Vec<Step>) {
    let mut world = World::new(numbering);
    let mut view: Optimistic<Counter, Edit> = Optimistic::new(ME);
    view.apply(&ViewEvent::Snapshot {
        at: Position { epoch: EPOCH, version: 0 },
        rows: vec![].into(),
        resynced: None,
    });
    let mut outcomes: BTreeMap<u64, usize> = BTreeMap::new();

    let mut run = |step: Step, world: &mut World, view: &mut Optimistic<Counter, Edit>| match step {
        Step::Send(edit) => {
            world.next_seq += 1;
            let command = view.begin(world.next_seq, edit.clone());
            assert_eq!(command.seq, world.next_seq);
            assert_eq!(Edit::from_command(&command.name, &command.payload), Some(edit.clone()));
            world.sent.insert(command.seq, edit);
            if world.connected {
                world.to_server.push_back(command.seq);
            }
        }
        Step::Serve => world.serve(),
        Step::Other(edit, seq) => {
            let _ = world.decide(&edit, OTHER, seq);
        }
        Step::Elsewhere => world.position += 1,
        Step::Delta => {
            if let Some(delta) = world.to_app.pop_front() {
                world.version = delta.to;
                for c in delta.acked.iter().filter(|c| c.client_id == ME) {
                    world.learnt.insert(c.seq, world.applied.get(&c.seq).map_or(0, |a| a.0));
                }
                let changes = view.apply(&ViewEvent::Delta(delta));
                assert!(!changes.out_of_order);
            }
        }
        Step::Answer(i) => {
            if !world.answers.is_empty() {
                let answered = world.answers.remove(i % world.answers.len());
                let seq = answered.seq;
                let rejected = answered.result.is_err();
                if let Ok(ack) = &answered.result {
                    world.learnt.insert(seq, ack.position);
                    if ack.duplicate {
                        world.duplicates.insert(seq);
                    }
                }
                let outcome = view.answered(answered);
                if world.answered.insert(seq, rejected).is_some() {
                    assert_eq!(outcome, Outcome::Unknown, "a second answer to {seq}");
                } else {
                    assert_ne!(outcome, Outcome::Unknown, "the first answer to {seq}");
                    *outcomes.entry(seq).or_default() += 1;
                }
            }
        }
        Step::Resync => {
            world.to_app.clear();
            world.snapshot(view);
        }
        Step::Lose => {
            world.connected = false;
            world.to_server.clear();
            world.to_app.clear();
            world.answers.clear();
        }
        Step::Reconnect { resume } => {
            if world.connected {
                return;
            }
            world.connected = true;
            if resume {
                view.apply(&ViewEvent::Resumed { at: Position { epoch: EPOCH, version: world.version } });
                let missed = world.deltas.iter().filter(|d| d.from >= world.version).cloned();
                world.to_app.extend(missed);
            } else {
                world.snapshot(view);
            }
            // The runtime resends every command not answered, with its seq.
            let unanswered: Vec<u64> =
                world.sent.keys().filter(|s| !world.answered.contains_key(s)).copied().collect();
            world.to_server.extend(unanswered);
        }
    };

    let invariant = |world: &World, view: &Optimistic<Counter, Edit>, when: &str| {
        let actual: BTreeMap<u64, Edit> = view.pending().map(|(s, e)| (s, e.clone())).collect();
        let refused = |seq: &u64| world.answered.get(seq) == Some(&true);
        // Held by the app's copy: applied at a version it has reached.
        let held = |seq: &u64| world.applied.get(seq).is_some_and(|(p, v)| *p == 0 || *v <= world.version);
        for seq in actual.keys() {
            assert!(
                world.sent.contains_key(seq) && !refused(seq),
                "{seq} pending, not sent or refused {when}"
            );
        }
        // Dropped early, briefly, by design: a duplicate ack, or an ack after a snapshot that
        // came while the command was on its way (their delta follows).
        let lapse = |seq: &u64| {
            world.duplicates.contains(seq)
                || (world.copied.contains(seq) && world.answered.get(seq) == Some(&false))
        };
        for seq in world.sent.keys().filter(|s| !refused(s) && !held(s) && !lapse(s)) {
            assert!(actual.contains_key(seq), "{seq} not in the app's copy yet, dropped {when}");
        }
        if world.numbering == Numbering::Log {
            // Versions are positions: what the app learnt says exactly what its copy holds.
            let learnt = |seq: &u64| world.learnt.get(seq).is_some_and(|p| *p <= world.version) || lapse(seq);
            let expected: Vec<u64> =
                world.sent.keys().filter(|s| !refused(s) && !learnt(s)).copied().collect();
            assert_eq!(actual.keys().copied().collect::<Vec<_>>(), expected, "pending {when}");
        }
        let server_rows: BTreeMap<u8, i64> =
            view.view().iter().filter_map(|(k, c)| Some((u8::try_from(k.as_u64()?).ok()?, c.n))).collect();
        assert_eq!(&server_rows, world.copy(), "the app's copy {when}");
        let rows = numbers(view);
        assert_eq!(rows, shown(world.copy(), actual.values()), "rows shown {when}");
        for key in 0u8..3 {
            assert_eq!(view.get(&json!(key)).map(|c| c.n), rows.get(&key).copied(), "row {key} {when}");
        }
    };

    for (i, step) in steps.into_iter().enumerate() {
        let when = format!("after step {i} ({step:?})");
        run(step, &mut world, &mut view);
        invariant(&world, &view, &when);
    }
    // Then the link holds until everything is answered and delivered.
    run(Step::Reconnect { resume: true }, &mut world, &mut view);
    while !(world.to_server.is_empty() && world.to_app.is_empty() && world.answers.is_empty()) {
        run(Step::Serve, &mut world, &mut view);
        run(Step::Delta, &mut world, &mut view);
        run(Step::Answer(0), &mut world, &mut view);
        invariant(&world, &view, "while settling");
    }
    assert_eq!(view.pending().count(), 0, "nothing pending once everything is answered and delivered");
    assert!(outcomes.values().all(|n| *n == 1), "each command had one outcome");
    assert_eq!(outcomes.len(), world.sent.len(), "every command had an outcome");
    assert_eq!(&numbers(&view), &world.head().1, "the rows shown are the server's");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn pending_changes_show_until_the_rows_hold_them_and_go_exactly_once(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        check(Numbering::Log, steps);
    }

    #[test]
    fn the_same_when_versions_count_commits(steps in proptest::collection::vec(step(), 1..60)) {
        check(Numbering::Commits, steps);
    }
}

#[test]
fn a_delta_before_the_ack_an_ack_before_the_delta_and_a_rejection() {
    check(
        Numbering::Commits,
        vec![
            // Delta first, then the ack.
            Step::Send(Edit::Add(0, 5)),
            Step::Serve,
            Step::Delta,
            Step::Answer(0),
            // Ack first, then the delta.
            Step::Send(Edit::Add(0, 1)),
            Step::Serve,
            Step::Answer(0),
            Step::Delta,
            // Refused: rolled back.
            Step::Send(Edit::Add(1, 14)),
            Step::Serve,
            Step::Answer(0),
            // Applied while the link was lost; known again through the resync's snapshot and the
            // resent command's duplicate ack.
            Step::Send(Edit::Add(2, 3)),
            Step::Serve,
            Step::Lose,
            Step::Reconnect { resume: false },
            Step::Serve,
            Step::Answer(0),
        ],
    );
}

#[test]
fn a_command_applied_before_a_resync_settles_with_its_duplicate_ack() {
    // Applied at log position 2 (view version 1); its answer lost with the link; the resync's
    // snapshot (version 1) holds it, and the resent command's duplicate ack drops it.
    check(
        Numbering::Commits,
        vec![
            Step::Elsewhere,
            Step::Send(Edit::Add(0, 1)),
            Step::Serve,
            Step::Lose,
            Step::Reconnect { resume: false },
        ],
    );
}

#[test]
fn a_command_a_resync_copied_settles_with_its_ack() {
    // Applied (view version 1, log position 2), then the view is sent afresh on the same link
    // before the ack: the snapshot holds it and no delta will list it; the ack drops it.
    check(
        Numbering::Commits,
        vec![Step::Elsewhere, Step::Send(Edit::Add(0, 1)), Step::Serve, Step::Resync, Step::Answer(0)],
    );
}

#[test]
fn another_clients_ack_with_the_same_seq_drops_nothing() {
    check(Numbering::Log, vec![Step::Send(Edit::Add(0, 2)), Step::Other(Edit::Add(0, 3), 1), Step::Delta]);
}

#[test]
fn commands_a_previous_run_left_are_shown_again_and_settle() {
    let mut view: Optimistic<Counter, Edit> = Optimistic::new(ME);
    let at = Position { epoch: EPOCH, version: 4 };
    view.apply(&ViewEvent::Snapshot {
        at,
        rows: vec![Row { key: json!(0), row: object(json!({"n": 1})) }].into(),
        resynced: None,
    });
    let left = vec![
        Command { seq: 3, name: "add".into(), payload: json!({"k": 0, "n": 2}) },
        Command { seq: 4, name: "archive".into(), payload: json!({}) },
    ];
    let restored = view.restore(left);
    assert_eq!(restored.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![3], "only this view's changes");
    assert_eq!(view.get(&json!(0)).map(|c| c.n), Some(3));
    // The server had applied it at position 4, which the snapshot holds: the duplicate ack drops it.
    let ack = Ack { id: 1, client_id: ME.into(), seq: 3, position: 4, events: 1, duplicate: true };
    assert_eq!(view.answered(Answered { seq: 3, result: Ok(ack) }), Outcome::Accepted(Edit::Add(0, 2)));
    assert_eq!(view.pending().count(), 0);
    assert_eq!(view.get(&json!(0)).map(|c| c.n), Some(1), "the server's row, which holds it");
    let keys: Vec<Key> = view.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![json!(0)]);
}
