//! One query's pages, in order: the one paging loop every reader shares (a time window's drain,
//! a snapshot listing, a delta round, the directory cache's sync). It owns what each of them
//! used to repeat: the pacer wait before a delta page, the nextLink host check (the token never
//! leaves the configured Graph host), a stop between pages, the restart-once when Graph refuses
//! a nextLink, and the resync-once when Graph no longer has a delta state (410). The caller keeps
//! only what it does with a page.

use url::Url;

use super::client::GraphClient;
use super::error::{GraphError, GraphErrorBody};
use super::page::Records;
use crate::kind::Family;

/// What [`Pager::next`] gives.
#[derive(Debug)]
pub enum Step {
    /// A page of records; `last` when it has no nextLink (its deltaLink, checked, if any).
    Page {
        records: Records,
        last: bool,
        delta: Option<Url>,
    },
    /// Graph refused a nextLink (400) the first time: the caller says where to resume
    /// ([`Pager::restart_at`]); a second refusal is an error.
    LinkRefused(Box<GraphErrorBody>),
    /// Graph no longer has the delta state (410): the pages start again from the baseline query,
    /// once per round.
    Resynced,
    /// A stop (SIGTERM) came before the next page: the caller checkpoints what it has.
    Stopped,
}

/// The pages of one query.
pub struct Pager<'c> {
    client: &'c GraphClient,
    family: Family,
    url: Option<Url>,
    /// The next request is the query's first (no nextLink followed yet).
    first: bool,
    /// A refused nextLink is given to the caller once ([`Pager::restartable`]).
    restartable: bool,
    restarted: bool,
    /// The query a 410 starts again from, when the query is a delta round.
    baseline: Option<Url>,
    resynced: bool,
    /// Wait for the family's budget before each page (delta rounds run beside the logs).
    pace: bool,
}

impl<'c> Pager<'c> {
    pub fn new(client: &'c GraphClient, family: Family, first: Url) -> Pager<'c> {
        Pager {
            client,
            family,
            url: Some(first),
            first: true,
            restartable: false,
            restarted: false,
            baseline: None,
            resynced: false,
            pace: false,
        }
    }

    /// A delta round: waits for the budget before each page, and a 410 starts it again from
    /// `baseline` once.
    pub fn delta(mut self, baseline: Url) -> Pager<'c> {
        self.baseline = Some(baseline);
        self.pace = true;
        self
    }

    /// A nextLink Graph refuses (400) is given as [`Step::LinkRefused`] once, for the caller to
    /// resume elsewhere ([`Pager::restart_at`]); otherwise it is an error.
    pub fn restartable(mut self) -> Pager<'c> {
        self.restartable = true;
        self
    }

    /// After [`Step::LinkRefused`]: the query to read from instead.
    pub fn restart_at(&mut self, url: Url) {
        self.url = Some(url);
        self.first = true;
    }

    /// The next step, or `None` once the query's last page was given.
    pub async fn next(&mut self) -> Result<Option<Step>, GraphError> {
        let Some(url) = self.url.clone() else {
            return Ok(None);
        };
        if !self.first && self.client.stopping() {
            return Ok(Some(Step::Stopped));
        }
        if self.pace {
            self.client.ready(self.family).await;
        }
        let page = match self.client.get_page(&url, self.family).await {
            Ok(p) => p,
            Err(GraphError::Shutdown) => return Ok(Some(Step::Stopped)),
            Err(GraphError::BadRequest { body, .. })
                if self.restartable && !self.first && !self.restarted =>
            {
                self.restarted = true;
                self.url = None;
                return Ok(Some(Step::LinkRefused(body)));
            }
            Err(GraphError::Status { status: 410, .. })
                if !self.resynced && self.baseline.is_some() =>
            {
                self.resynced = true;
                self.url = self.baseline.clone();
                self.first = true;
                return Ok(Some(Step::Resynced));
            }
            Err(e) => return Err(e),
        };
        let (next, delta) = self.client.links(&page)?;
        self.first = false;
        let last = next.is_none();
        self.url = next;
        Ok(Some(Step::Page {
            records: page.records,
            last,
            delta: if last { delta } else { None },
        }))
    }
}

#[cfg(test)]
mod tests {
    use entra_simulator::{Resource, Simulator, Spread};

    use super::*;
    use crate::shutdown::ShutdownTrigger;

    fn client(sim: &Simulator) -> (GraphClient, ShutdownTrigger) {
        let (trigger, shutdown) = crate::shutdown::channel();
        (crate::graph::test_client(sim, shutdown), trigger)
    }

    fn recent() -> Spread {
        let now = chrono::Utc::now();
        Spread::Between(
            now - chrono::Duration::minutes(30),
            now - chrono::Duration::minutes(1),
        )
    }

    fn audits(client: &GraphClient) -> Url {
        client.url(
            "v1.0",
            "/auditLogs/directoryAudits",
            &[("$top".to_string(), "1000".to_string())],
        )
    }

    /// What a pager gave: records per page, and the other steps by name.
    async fn steps(
        pager: &mut Pager<'_>,
        restart: Option<&Url>,
    ) -> Result<Vec<String>, GraphError> {
        let mut out = Vec::new();
        while let Some(step) = pager.next().await? {
            out.push(match step {
                Step::Page { records, last, .. } => {
                    format!("{}{}", records.len(), if last { "." } else { "" })
                }
                Step::LinkRefused(_) => {
                    if let Some(u) = restart {
                        pager.restart_at(u.clone());
                    }
                    "refused".into()
                }
                Step::Resynced => "resynced".into(),
                Step::Stopped => "stopped".into(),
            });
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_refused_next_link_is_given_once_then_the_restart_is_read_whole() {
        let sim = Simulator::start().await.unwrap();
        sim.generate(Resource::DirectoryAudits, 2500, recent());
        let (client, _stop) = client(&sim);
        let first = audits(&client);

        sim.invalid_skiptokens(1);
        let mut pager = Pager::new(&client, Family::Reports, first.clone()).restartable();
        let got = steps(&mut pager, Some(&first)).await.unwrap();
        assert_eq!(got, ["1000", "refused", "1000", "1000", "500."]);

        // A second refusal after the restart is an error, as is any refusal when not restartable.
        sim.invalid_skiptokens(2);
        let mut pager = Pager::new(&client, Family::Reports, first.clone()).restartable();
        let err = steps(&mut pager, Some(&first)).await.unwrap_err();
        assert!(matches!(err, GraphError::BadRequest { .. }), "{err}");
        sim.invalid_skiptokens(1);
        let mut pager = Pager::new(&client, Family::Reports, first.clone());
        let err = steps(&mut pager, None).await.unwrap_err();
        assert!(matches!(err, GraphError::BadRequest { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_delta_round_graph_forgot_starts_again_from_the_baseline_once() {
        let sim = Simulator::start().await.unwrap();
        sim.directory_seed(1500, 0);
        let (client, _stop) = client(&sim);
        let baseline = client.url("v1.0", "/users/delta", &[]);
        let mut pager =
            Pager::new(&client, Family::Directory, baseline.clone()).delta(baseline.clone());
        let mut link = None;
        let mut pages = Vec::new();
        while let Some(step) = pager.next().await.unwrap() {
            if let Step::Page {
                records,
                last,
                delta,
            } = step
            {
                pages.push(records.len());
                if last {
                    link = delta;
                }
            }
        }
        assert_eq!(pages, [999, 501]);
        let link = link.expect("the round's deltaLink");

        sim.directory_expire_delta_tokens();
        let mut pager = Pager::new(&client, Family::Directory, link).delta(baseline);
        let got = steps(&mut pager, None).await.unwrap();
        assert_eq!(got, ["resynced", "999", "501."]);
    }

    #[tokio::test]
    async fn a_stop_between_pages_ends_the_query_with_stopped() {
        let sim = Simulator::start().await.unwrap();
        sim.generate(Resource::DirectoryAudits, 2500, recent());
        let (client, stop) = client(&sim);
        let mut pager = Pager::new(&client, Family::Reports, audits(&client));
        assert!(matches!(
            pager.next().await.unwrap(),
            Some(Step::Page { .. })
        ));
        stop.trigger();
        assert!(matches!(pager.next().await.unwrap(), Some(Step::Stopped)));
        // The first page of a query is still asked for: a stop ends paging, not the request
        // already decided (get_page itself answers a stop while it waits).
        let requests = sim.requests().iter().filter(|r| r.is_graph()).count();
        assert_eq!(requests, 1);
    }
}
