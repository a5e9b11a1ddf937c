//! Views computed once per session: the first query that reads one runs its SQL and keeps the
//! rows; every later read, in the same query or the next, scans those rows.
//!
//! DataFusion plans a view (or a CTE) again wherever it is read, and agent activity reads each
//! of its views two to four times, each built on the one before: as plain views, one day of
//! 324 agents took 11.6 s in `ctrlake sql`, and as one query with CTEs 12.4 s in the report;
//! computed once, 2.1 s. The rows count against the session's memory limit for as long as the
//! view is registered, so a window too large to hold ends in the limit's error, not in the
//! machine's memory.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::DataFrame;
use futures::lock::Mutex;

/// A view whose rows are computed on its first scan and kept.
pub struct MaterializedView {
    name: String,
    plan: LogicalPlan,
    schema: SchemaRef,
    rows: Mutex<Option<Held>>,
}

/// The computed rows, and the memory they hold in the session's pool.
struct Held {
    table: Arc<MemTable>,
    _reservation: MemoryReservation,
}

impl std::fmt::Debug for MaterializedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterializedView")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MaterializedView {
    /// The view `name` of `frame` (a planned query, its parameters bound).
    pub fn new(name: &str, frame: DataFrame) -> Self {
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let (_, plan) = frame.into_parts();
        Self {
            name: name.to_owned(),
            plan,
            schema,
            rows: Mutex::new(None),
        }
    }

    /// The rows, computed by the first caller (later ones wait for it).
    async fn table(&self, state: &dyn Session) -> Result<Arc<MemTable>> {
        let mut rows = self.rows.lock().await;
        if let Some(held) = rows.as_ref() {
            return Ok(Arc::clone(&held.table));
        }
        let plan = state.create_physical_plan(&self.plan).await?;
        let batches = collect(plan, state.task_ctx()).await?;
        let reservation = MemoryConsumer::new(format!("view {}", self.name))
            .register(&state.runtime_env().memory_pool);
        reservation.try_grow(batches.iter().map(RecordBatch::get_array_memory_size).sum())?;
        let partitions = state.config().target_partitions();
        let table = Arc::new(MemTable::try_new(
            Arc::clone(&self.schema),
            spread(batches, partitions),
        )?);
        *rows = Some(Held {
            table: Arc::clone(&table),
            _reservation: reservation,
        });
        Ok(table)
    }
}

/// `batches` dealt round-robin into `partitions` partitions, so that the queries reading them
/// run on every core.
fn spread(batches: Vec<RecordBatch>, partitions: usize) -> Vec<Vec<RecordBatch>> {
    let mut spread = vec![Vec::new(); partitions.max(1)];
    let count = spread.len();
    for (i, batch) in batches.into_iter().enumerate() {
        spread[i % count].push(batch);
    }
    spread
}

#[async_trait]
impl TableProvider for MaterializedView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table(state)
            .await?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn values(batches: &[RecordBatch]) -> Vec<f64> {
        batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Float64Type>().values().to_vec())
            .collect()
    }

    #[tokio::test]
    async fn a_view_is_computed_once_for_every_read() {
        // random() differs on every evaluation: equal values mean one computation.
        let ctx = SessionContext::new();
        let frame = ctx.sql("SELECT random() AS r").await.expect("plans");
        ctx.register_table("v", Arc::new(MaterializedView::new("v", frame)))
            .expect("registers");
        let both = ctx
            .sql("SELECT r FROM v UNION ALL SELECT r FROM v")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let later = ctx
            .sql("SELECT r FROM v")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let (both, later) = (values(&both), values(&later));
        assert_eq!(both.len(), 2);
        assert_eq!(both[0], both[1]);
        assert_eq!(later, vec![both[0]]);
    }

    #[tokio::test]
    async fn a_view_larger_than_the_memory_limit_fails_instead_of_being_held() {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(1 << 20)))
            .build_arc()
            .expect("runtime");
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        // 1M doubles: 8 MB of rows, over the 1 MB pool.
        let frame = ctx
            .sql("SELECT CAST(value AS DOUBLE) AS r FROM generate_series(1, 1000000)")
            .await
            .expect("plans");
        ctx.register_table("v", Arc::new(MaterializedView::new("v", frame)))
            .expect("registers");
        let error = ctx
            .sql("SELECT count(*) FROM v")
            .await
            .expect("plans")
            .collect()
            .await
            .expect_err("over the limit");
        assert!(
            error.to_string().contains("view v"),
            "names the view: {error}"
        );
    }
}
