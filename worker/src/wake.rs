//! Wake-ups: producers announce each push on a Redis channel (see
//! `shared::jobs::wake_channel`), and this process's consumers of that
//! queue poll it at once instead of at their next interval. apalis-redis
//! only fetches when polled, so without this a job waits for up to a poll
//! interval before it starts. The interval stays as the fallback for lost
//! announcements (pub/sub delivers to those listening, at most once).

use std::{
    collections::HashMap,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::{Stream, StreamExt};
use secrecy::ExposeSecret;
use shared::{Config, jobs};
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, sync::ReusableBoxFuture};

/// The wake-up signal of each queue in this process.
#[derive(Clone)]
pub struct Wakeups {
    queues: HashMap<&'static str, watch::Sender<()>>,
}

impl Wakeups {
    pub fn new() -> Self {
        Self { queues: jobs::QUEUES.iter().map(|queue| (*queue, watch::Sender::new(()))).collect() }
    }

    /// A stream that yields each time `queue` is announced.
    pub fn of(&self, queue: &str) -> WakeStream {
        let receiver = self.queues.get(queue).expect("BUG: every queue has a wake-up signal").subscribe();
        WakeStream::new(receiver)
    }

    fn wake(&self, queue: &str) {
        if let Some(sender) = self.queues.get(queue) {
            sender.send_replace(());
        }
    }

    /// Listens to the announcements until `stop` is cancelled, subscribing
    /// again after a second whenever Redis goes away.
    pub async fn listen(self, config: &Config, stop: CancellationToken) {
        let channel = jobs::wake_channel(config);
        let client = match redis::Client::open(config.redis_url.expose_secret()) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "REDIS_URL is invalid; queues are polled only");
                return;
            }
        };
        while !stop.is_cancelled() {
            let listened = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                tracing::debug!(channel, "listening for pushes");
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(queue) = message.get_payload::<String>() {
                        self.wake(&queue);
                    }
                }
                Ok::<_, redis::RedisError>(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                result = listened => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "push announcements unavailable; polling meanwhile");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

impl Default for Wakeups {
    fn default() -> Self {
        Self::new()
    }
}

type Changed = (Result<(), watch::error::RecvError>, watch::Receiver<()>);

async fn changed(mut receiver: watch::Receiver<()>) -> Changed {
    (receiver.changed().await, receiver)
}

/// Yields once per announcement (several announcements between two polls
/// count once); ends if the signal is dropped.
pub struct WakeStream {
    next: ReusableBoxFuture<'static, Changed>,
}

impl WakeStream {
    fn new(mut receiver: watch::Receiver<()>) -> Self {
        receiver.mark_unchanged();
        Self { next: ReusableBoxFuture::new(changed(receiver)) }
    }
}

impl Stream for WakeStream {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let (result, receiver) = ready!(self.next.poll(cx));
        self.next.set(changed(receiver));
        Poll::Ready(result.ok())
    }
}
