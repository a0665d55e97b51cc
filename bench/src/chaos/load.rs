//! The booking load the faults land on: a few resources (capacity 1 and more, one in another
//! zone, two with holds that expire within seconds, one that requires approval), sessions that each play a customer
//! (place a booking or a hold, maybe replay it with the same key, read it back with its
//! position, confirm or cancel it, an admin approving or declining it), and readers that keep the availability caches full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::api::{Answer, Api};
use super::ledger::{Command, Kind, Ledger};
use super::random::Rng;

pub type Tasks = Vec<tokio::task::JoinHandle<()>>;

/// A resource of the run, as created.
#[derive(Clone, Debug)]
pub struct Resource {
    pub id: Uuid,
    pub capacity: u32,
    /// Holds on it expire within seconds: some are left to the sweeper on purpose.
    pub short_holds: bool,
}

/// The resources: `(name, capacity, time zone, policy, opening hours)`.
fn catalog() -> Vec<(&'static str, u32, &'static str, Value, Value)> {
    let always = Value::Null;
    let berlin_days = json!({
        "mon": [["07:00", "21:00"]], "tue": [["07:00", "21:00"]], "wed": [["07:00", "21:00"]],
        "thu": [["07:00", "21:00"]], "fri": [["07:00", "21:00"]], "sat": [["07:00", "21:00"]],
        "sun": [["07:00", "21:00"]]
    });
    vec![
        ("Room A", 1, "UTC", json!({}), always.clone()),
        (
            "Room B",
            1,
            "UTC",
            json!({ "buffer_after_minutes": 15 }),
            always.clone(),
        ),
        (
            "Room C",
            1,
            "Europe/Berlin",
            json!({ "hold_ttl_seconds": 6 }),
            berlin_days,
        ),
        ("Seats D", 3, "UTC", json!({}), always.clone()),
        (
            "Seats E",
            3,
            "UTC",
            json!({ "hold_ttl_seconds": 6, "buffer_before_minutes": 5 }),
            always.clone(),
        ),
        ("Hall F", 2, "UTC", json!({}), always.clone()),
        (
            "Studio G",
            1,
            "UTC",
            json!({ "requires_approval": true }),
            always,
        ),
    ]
}

/// What sessions and readers share.
pub struct Load {
    pub api: Arc<Api>,
    pub resources: Vec<Resource>,
    /// Bookings fall on `days` days from `first_day` (UTC dates), 08:00 to 19:00 UTC.
    pub first_day: NaiveDate,
    pub days: u32,
    pub ledger: Mutex<Ledger>,
    stop: AtomicBool,
    stop_reads: AtomicBool,
    seed: u64,
}

impl Load {
    /// Creates the resources (as commands like any other) and returns the load, not started.
    pub async fn prepare(api: Arc<Api>, days: u32, seed: u64) -> anyhow::Result<Arc<Load>> {
        let first_day = Utc::now().date_naive() + chrono::Days::new(1);
        let load = Load {
            api,
            resources: Vec::new(),
            first_day,
            days,
            ledger: Mutex::new(Ledger::default()),
            stop: AtomicBool::new(false),
            stop_reads: AtomicBool::new(false),
            seed,
        };
        let mut resources = Vec::new();
        for (name, capacity, zone, policy, hours) in catalog() {
            let body = json!({
                "name": name, "kind": "chaos", "capacity": capacity, "time_zone": zone,
                "policy": policy, "opening_hours": hours,
            });
            let short_holds = policy["hold_ttl_seconds"].as_u64().is_some_and(|s| s < 60);
            let admin = load.api.admin.clone();
            let answer = load
                .send(
                    Kind::CreateResource,
                    &admin,
                    "/v1/resources",
                    &body,
                    None,
                    0,
                )
                .await
                .answer;
            let Answer::Acked { body, .. } = answer else {
                anyhow::bail!("creating {name} failed: {answer:?}");
            };
            let id = body["resource"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .context("a resource id in the answer")?;
            resources.push(Resource {
                id,
                capacity,
                short_holds,
            });
        }
        Ok(Arc::new(Load { resources, ..load }))
    }

    /// Starts `sessions` customers and `readers` readers.
    pub fn start(self: &Arc<Self>, sessions: usize, readers: usize) -> (Tasks, Tasks) {
        let sessions = (0..sessions)
            .map(|n| {
                let load = Arc::clone(self);
                tokio::spawn(async move { load.session(n).await })
            })
            .collect();
        let readers = (0..readers)
            .map(|n| {
                let load = Arc::clone(self);
                tokio::spawn(async move { load.reader(n).await })
            })
            .collect();
        (sessions, readers)
    }

    /// Sessions finish the flow they are in (every hold they mean to settle is settled) and stop.
    pub fn stop_sessions(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_readers(&self) {
        self.stop_reads.store(true, Ordering::Relaxed);
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        (0..self.days).map(|d| self.first_day + chrono::Days::new(u64::from(d)))
    }

    /// Sends one logical command and records how it ended.
    async fn send(
        &self,
        kind: Kind,
        token: &str,
        path: &str,
        body: &Value,
        booking: Option<Uuid>,
        jitter: u64,
    ) -> Sent {
        let key = Uuid::new_v4().to_string();
        let correlation = Uuid::now_v7();
        let answer = self
            .api
            .command(token, path, body, &key, correlation, jitter)
            .await;
        let booking = booking.or_else(|| match &answer {
            Answer::Acked { body, .. } => body["booking"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok()),
            _ => None,
        });
        if let Ok(mut ledger) = self.ledger.lock() {
            ledger.commands.push(Command {
                kind,
                correlation,
                booking,
                answer: answer.clone(),
            });
        }
        Sent {
            key,
            correlation,
            booking,
            answer,
        }
    }

    /// Sends `sent` again with its key, id and body, as a client that lost the answer would,
    /// and checks that the engine answers exactly as the first time.
    async fn replay(&self, token: &str, path: &str, body: &Value, sent: &Sent, jitter: u64) {
        if matches!(sent.answer, Answer::GaveUp { .. }) {
            return;
        }
        let again = self
            .api
            .command(token, path, body, &sent.key, sent.correlation, jitter)
            .await;
        let same = match (&sent.answer, &again) {
            (
                Answer::Acked {
                    status: s1,
                    body: b1,
                },
                Answer::Acked {
                    status: s2,
                    body: b2,
                },
            ) => s1 == s2 && b1 == b2,
            (
                Answer::Refused {
                    status: s1,
                    code: c1,
                },
                Answer::Refused {
                    status: s2,
                    code: c2,
                },
            ) => s1 == s2 && c1 == c2,
            // Given up while the run winds down: nothing to compare.
            (_, Answer::GaveUp { .. }) => return,
            _ => false,
        };
        if let Ok(mut ledger) = self.ledger.lock() {
            ledger.replays += 1;
            if !same {
                ledger.replay_mismatches.push(format!(
                    "{path} key {}: first {:?}, replay {:?}",
                    sent.key, sent.answer, again
                ));
            }
        }
    }

    async fn session(&self, n: usize) {
        let mut rng = Rng::new(self.seed ^ (n as u64 + 1).wrapping_mul(0x5851_F42D_4C95_7F2D));
        let customer = format!("customer-{n}");
        let token = match self.api.client_token(&customer) {
            Ok(token) => token,
            Err(err) => {
                eprintln!("session {n}: cannot sign a token: {err:#}");
                return;
            }
        };
        while !self.stop.load(Ordering::Relaxed) {
            self.flow(&mut rng, &token).await;
            tokio::time::sleep(rng.millis(20, 120)).await;
        }
    }

    /// One customer's story with one booking.
    async fn flow(&self, rng: &mut Rng, token: &str) {
        let resource = &self.resources[rng.below(self.resources.len() as u64) as usize];
        // A tenth of the bookings crowd the first day (races for the last units); the rest
        // spread out, so that most commands still find room.
        let offset = if rng.chance(0.1) {
            0
        } else {
            rng.below(u64::from(self.days))
        };
        let day = self.first_day + chrono::Days::new(offset);
        let start = day
            .and_hms_opt(8, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
            + chrono::Duration::minutes(30 * rng.below(20) as i64);
        let end = start + chrono::Duration::minutes(30 * (1 + rng.below(3)) as i64);
        let quantity = if resource.capacity > 1 {
            1 + rng.below(2)
        } else {
            1
        };
        let hold = rng.chance(0.4);
        let body = json!({
            "resource_id": resource.id, "start": start, "end": end, "quantity": quantity,
            "hold": hold, "metadata": { "source": "chaos" },
        });
        let placed = self
            .send(
                Kind::Place { hold },
                token,
                "/v1/bookings",
                &body,
                None,
                rng.next_u64(),
            )
            .await;
        if rng.chance(0.15) {
            self.replay(token, "/v1/bookings", &body, &placed, rng.next_u64())
                .await;
        }
        let (Answer::Acked { body: answer, .. }, Some(booking)) = (&placed.answer, placed.booking)
        else {
            return;
        };
        if !hold && resource.capacity == 1 && rng.chance(0.3) {
            let position = answer["position"].as_str().unwrap_or_default().to_owned();
            self.read_own_write(resource.id, start, end, &position)
                .await;
        }
        let mut status = status_of(answer);
        let mut cancel = !hold && rng.chance(0.25);
        if hold {
            if resource.short_holds && rng.chance(0.35) {
                // Left for the hold sweeper.
                return;
            }
            if resource.short_holds && rng.chance(0.15) {
                // A customer who comes back around the hold's expiry: the confirm races the
                // sweeper (and is refused with 410 once the hold has expired).
                tokio::time::sleep(rng.millis(5000, 7000)).await;
            } else {
                tokio::time::sleep(rng.millis(0, 300)).await;
            }
            if rng.chance(0.8) {
                let confirmed = self.act(rng, Kind::Confirm, token, booking).await;
                status = confirmed.status();
                // A hold whose confirm was refused is let go rather than left for its TTL.
                cancel = if status.is_some() {
                    rng.chance(0.2)
                } else {
                    !resource.short_holds
                };
            } else {
                cancel = true;
            }
        }
        if status.as_deref() == Some("pending") {
            // On a resource that requires approval: an admin decides.
            tokio::time::sleep(rng.millis(0, 300)).await;
            let admin = self.api.admin.clone();
            let kind = if rng.chance(0.7) {
                Kind::Approve
            } else {
                Kind::Decline
            };
            let decided = self.act(rng, kind, &admin, booking).await;
            if kind == Kind::Decline || decided.status().is_none() {
                return;
            }
        }
        if cancel {
            tokio::time::sleep(rng.millis(0, 200)).await;
            self.act(rng, Kind::Cancel, token, booking).await;
        }
    }

    /// Sends a transition of `booking` (and, now and then, sends it again with the same key).
    async fn act(&self, rng: &mut Rng, kind: Kind, token: &str, booking: Uuid) -> Sent {
        let action = match kind {
            Kind::Confirm => "confirm",
            Kind::Approve => "approve",
            Kind::Decline => "decline",
            _ => "cancel",
        };
        let path = format!("/v1/bookings/{booking}/{action}");
        let sent = self
            .send(
                kind,
                token,
                &path,
                &json!({}),
                Some(booking),
                rng.next_u64(),
            )
            .await;
        if rng.chance(0.15) {
            self.replay(token, &path, &json!({}), &sent, rng.next_u64())
                .await;
        }
        sent
    }

    /// Reads the availability over a booking just placed (capacity 1, confirmed) at its
    /// position: the period must not show as free, whatever cache answers.
    async fn read_own_write(
        &self,
        resource: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        position: &str,
    ) {
        let path = format!(
            "/v1/resources/{resource}/availability?from={}&to={}&min_position={position}",
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        // A query waits up to 5 s for the projection and then says 503: ask again a few times
        // (the projector may be down), then leave it.
        for _ in 0..4 {
            let Ok((200, cache, body)) = self.api.query(&path).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let free_over_it: Vec<&Value> = body["free"]
                .as_array()
                .map(|free| {
                    free.iter()
                        .filter(|range| {
                            let at = |k: &str| range[k].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
                            matches!((at("start"), at("end")), (Some(s), Some(e)) if s < end && start < e)
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Ok(mut ledger) = self.ledger.lock() {
                ledger.own_reads += 1;
                if !free_over_it.is_empty() {
                    ledger.own_read_violations.push(format!(
                        "{path} (x-cache {cache:?}) shows {free_over_it:?} free"
                    ));
                }
            }
            return;
        }
    }

    /// Keeps reading availability (one day, or three) of random resources: what a dashboard
    /// does, and what fills the caches the verification then holds to the truth.
    async fn reader(&self, n: usize) {
        let mut rng = Rng::new(self.seed ^ 0xC0FF_EE00 ^ n as u64);
        while !self.stop_reads.load(Ordering::Relaxed) {
            let resource = &self.resources[rng.below(self.resources.len() as u64) as usize];
            let day = self.first_day + chrono::Days::new(rng.below(u64::from(self.days)));
            let to = if rng.chance(0.3) {
                day + chrono::Days::new(2)
            } else {
                day
            };
            let path = format!(
                "/v1/resources/{}/availability?from={day}&to={to}&duration_minutes=60",
                resource.id
            );
            if let Ok((200, cache, _)) = self.api.query(&path).await
                && let Ok(mut ledger) = self.ledger.lock()
            {
                ledger.reads += 1;
                if cache.as_deref() == Some("hit") {
                    ledger.read_hits += 1;
                }
            }
            tokio::time::sleep(rng.millis(10, 50)).await;
        }
    }
}

struct Sent {
    key: String,
    correlation: Uuid,
    booking: Option<Uuid>,
    answer: Answer,
}

impl Sent {
    /// The booking's status after an acknowledged command.
    fn status(&self) -> Option<String> {
        match &self.answer {
            Answer::Acked { body, .. } => status_of(body),
            _ => None,
        }
    }
}

fn status_of(answer: &Value) -> Option<String> {
    answer["booking"]["status"].as_str().map(str::to_owned)
}
