//! Where a call goes: the services a server exports, several named
//! implementations of one service, and per-service concurrency limits that
//! keep one slow service from taking every worker from the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::Status;
use crate::server::Service;

/// The metadata key naming which implementation of a service to call
/// (`Request::with_implementation`). Over the native protocol it travels in
/// the header's own entry.
pub const IMPLEMENTATION_KEY: &str = "ferry-implementation";

/// How many calls of one service may run at once, and how many more may
/// wait for a turn (`ServerBuilder::limit_service`). Calls past both are
/// refused at once with RESOURCE_EXHAUSTED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceLimit {
    /// Calls running at once.
    pub max_concurrent_calls: usize,
    /// Calls waiting for a turn (0: refuse at once when full). A waiting
    /// call still ends at its deadline or when its client cancels.
    pub queue: usize,
}

/// The implementations exported under one service name.
#[derive(Default)]
struct Exported {
    default: Option<Arc<dyn Service>>,
    named: HashMap<String, Arc<dyn Service>>,
    limit: Option<Arc<Limit>>,
}

/// Where one call goes.
pub(crate) struct Route {
    pub(crate) service: Arc<dyn Service>,
    pub(crate) limit: Option<Arc<Limit>>,
}

/// Every service a server exports.
#[derive(Default)]
pub(crate) struct Routes {
    services: HashMap<String, Exported>,
}

impl Routes {
    /// Exports `service` under its name, as the default implementation or
    /// as the implementation called `implementation`.
    pub(crate) fn add(&mut self, implementation: Option<&str>, service: Arc<dyn Service>) {
        let exported = self.services.entry(service.name().to_owned()).or_default();
        match implementation {
            None => exported.default = Some(service),
            Some(name) => {
                exported.named.insert(name.to_owned(), service);
            }
        }
    }

    /// Limits the calls running at once in `service`, every implementation
    /// together.
    pub(crate) fn limit(&mut self, service: &str, limit: ServiceLimit) {
        self.services.entry(service.to_owned()).or_default().limit = Some(Arc::new(Limit {
            service: service.to_owned(),
            running: Arc::new(Semaphore::new(limit.max_concurrent_calls)),
            limit,
            waiting: AtomicUsize::new(0),
        }));
    }

    /// Service names, for `Debug`.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.services.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The implementation a call goes to, and the limit it runs under.
    pub(crate) fn route(
        &self,
        service: &str,
        implementation: Option<&str>,
    ) -> Result<Route, Status> {
        let exported = self
            .services
            .get(service)
            .filter(|e| e.default.is_some() || !e.named.is_empty())
            .ok_or_else(|| Status::unimplemented(format!("unknown service {service}")))?;
        let chosen = match implementation {
            Some(name) => exported.named.get(name).ok_or_else(|| {
                Status::unimplemented(format!(
                    "service {service} has no implementation named {name:?}{}",
                    listing(exported)
                ))
            })?,
            None => exported.default.as_ref().ok_or_else(|| {
                Status::unimplemented(format!(
                    "service {service} has only named implementations{}: \
                     pick one with the {IMPLEMENTATION_KEY} metadata key",
                    listing(exported)
                ))
            })?,
        };
        Ok(Route {
            service: chosen.clone(),
            limit: exported.limit.clone(),
        })
    }
}

fn listing(exported: &Exported) -> String {
    let mut names: Vec<&str> = exported.named.keys().map(String::as_str).collect();
    if names.is_empty() {
        return String::new();
    }
    names.sort_unstable();
    format!(" (it has {})", names.join(", "))
}

/// A service's concurrency limit in force.
pub(crate) struct Limit {
    service: String,
    limit: ServiceLimit,
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Limit {
    /// A turn to run, waiting in the queue if there is room there; the
    /// permit is held while the handler runs.
    pub(crate) async fn acquire(
        &self,
        deadline: Option<Instant>,
    ) -> Result<OwnedSemaphorePermit, Status> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let full = || {
            Status::resource_exhausted(format!(
                "service {} is at its limit of {} concurrent calls",
                self.service, self.limit.max_concurrent_calls
            ))
        };
        // Take a place in the queue, if one is free.
        let taken = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit.queue).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(full());
        }
        let _place = Place(&self.waiting);
        let turn = self.running.clone().acquire_owned();
        let expired = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            permit = turn => permit.map_err(|_| full()),
            () = expired => Err(Status::deadline_exceeded(format!(
                "deadline passed while waiting for a turn in service {}",
                self.service
            ))),
        }
    }
}

/// A place in a service's queue, given back when the wait ends.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
