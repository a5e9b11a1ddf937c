//! The `contacts` table: the newest delivered version of every contact, found with a hash
//! table instead of a sort.
//!
//! `queries/contacts.sql` states the rule in SQL: within a `dt` partition, the version with the
//! greatest `last_update_timestamp` wins, then the later-arrived copy, then the later position
//! in its source. Run as written, DataFusion sorts every row of the window by contact and
//! version, carrying every column the query needs, and compares each row with its predecessor:
//! on a week of 10M contacts (3M rows) that sort and comparison took 1.8 s of the queue
//! report's 3.1 s, while most contacts have one version and need no comparison at all.
//!
//! [`NewestVersionsExec`] applies the same rule in one pass: one table keeps the position of
//! the best version seen per (`dt`, `contact_id`), comparing versions only when a contact
//! comes back; then every batch read is emitted filtered to its winners (no gather across
//! batches), the batches dealt to the output partitions by rows. The input partitions are read
//! as the scan made them, each by its own task, into that one table (sharded by hash, so that
//! the readers rarely wait for each other): hash-partitioning the rows by `contact_id` first,
//! as DataFusion would for a per-key operator, copied every column of every row and cost more
//! than the table (measured: 0.7 s of CPU in a 10M-contact queue week, 10% of the report's
//! CPU). The rule's comparison lives in [`newer`], and a test checks that this table and the
//! SQL of `queries/contacts.sql` give the same rows.
//!
//! Only filters that read nothing but `dt` and `contact_id` pass below the de-duplication: they
//! keep all of a contact's versions or none (every version of a contact lives in the same
//! partition), and reach the Parquet scan as partition pruning and, for an id, the files' bloom
//! filters. Any other filter could drop the newest version and let an older one win, so it runs
//! above.

use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, Int64Array, LargeStringArray,
    PrimitiveArray, RecordBatch, StringArray, StringViewArray, TimestampMillisecondArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int64Type, SchemaRef, TimestampMillisecondType,
};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column as LogicalColumn, DFSchema, Result, Statistics, internal_err};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{Distribution, EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, CardinalityEffect, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, StatisticsArgs,
};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryFutureExt, TryStreamExt};
use hashbrown::HashTable;

/// The columns the rule reads, by name in `ctr_raw`.
const CONTACT_ID: &str = "contact_id";
const PARTITION: &str = "dt";
const LAST_UPDATE: &str = "last_update_timestamp";
const ARRIVAL: &str = "arrival_timestamp";
const SOURCE_URI: &str = "source_uri";
const SOURCE_OFFSET: &str = "source_offset";
const SEQUENCE_NUMBER: &str = "source_sequence_number";
const RULE_COLUMNS: [&str; 7] = [
    CONTACT_ID,
    PARTITION,
    LAST_UPDATE,
    ARRIVAL,
    SOURCE_URI,
    SOURCE_OFFSET,
    SEQUENCE_NUMBER,
];

/// `contacts` over a table of every delivered version (`ctr_raw`).
#[derive(Debug)]
pub struct NewestVersions {
    versions: Arc<dyn TableProvider>,
}

impl NewestVersions {
    pub fn new(versions: Arc<dyn TableProvider>) -> Self {
        Self { versions }
    }

    /// True when `filter` reads no column but `dt` and `contact_id` (and draws no random
    /// numbers, runs no subquery), so it keeps all of a contact's versions or none.
    fn keeps_whole_contacts(filter: &Expr) -> bool {
        let columns = filter.column_refs();
        let subquery = filter
            .exists(|expr| {
                Ok(matches!(
                    expr,
                    Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                ))
            })
            .unwrap_or(true);
        !columns.is_empty()
            && !subquery
            && !filter.is_volatile()
            && columns
                .iter()
                .all(|column| column.name == PARTITION || column.name == CONTACT_ID)
    }
}

#[async_trait]
impl TableProvider for NewestVersions {
    fn schema(&self) -> SchemaRef {
        self.versions.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    /// Filters that keep whole contacts are applied below the de-duplication (see
    /// [`NewestVersions::scan`]), so they are exact; the others run above it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match Self::keeps_whole_contacts(filter) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // A limit cannot pass below: the first rows read are not the first contacts.
        let schema = self.versions.schema();
        let wanted: Vec<usize> = match projection {
            Some(columns) => columns.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let mut read = wanted.clone();
        for name in RULE_COLUMNS {
            let index = schema.index_of(name)?;
            if !read.contains(&index) {
                read.push(index);
            }
        }
        // Every filter passed here keeps whole contacts (`supports_filters_pushdown`). The
        // versions' table prunes partitions with those on `dt` alone; the rest (an id) go into
        // a filter under the de-duplication, which the planner pushes into the Parquet scan
        // (statistics, bloom filters).
        let unqualified: Vec<Expr> = filters
            .iter()
            .map(|filter| {
                filter
                    .clone()
                    .transform(|expr| match expr {
                        Expr::Column(column) => Ok(Transformed::yes(Expr::Column(
                            LogicalColumn::new_unqualified(column.name),
                        ))),
                        other => Ok(Transformed::no(other)),
                    })
                    .map(|transformed| transformed.data)
            })
            .collect::<Result<_>>()?;
        let pruned_exactly = self
            .versions
            .supports_filters_pushdown(&unqualified.iter().collect::<Vec<_>>())?;
        let mut input = self
            .versions
            .scan(state, Some(&read), &unqualified, None)
            .await?;
        let remaining = unqualified
            .into_iter()
            .zip(pruned_exactly)
            .filter(|(_, pushdown)| *pushdown != TableProviderFilterPushDown::Exact)
            .map(|(filter, _)| filter);
        if let Some(predicate) = conjunction(remaining) {
            let input_schema = DFSchema::try_from(input.schema())?;
            let predicate = state.create_physical_expr(predicate, &input_schema)?;
            input = Arc::new(FilterExec::try_new(predicate, input)?);
        }
        Ok(Arc::new(NewestVersionsExec::try_new(
            input,
            (0..wanted.len()).collect(),
        )?))
    }
}

/// Keeps the newest version of each contact of its input (see the module docs), whatever
/// the input's partitioning: the partitions' readers share one table of best versions.
#[derive(Debug)]
pub struct NewestVersionsExec {
    input: Arc<dyn ExecutionPlan>,
    /// Positions in the input of the columns to emit.
    output: Vec<usize>,
    rule: RulePositions,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    /// The run under way, and how many output partitions have taken it.
    run: Mutex<Option<(Run, usize)>>,
}

/// The batches each output partition emits, once every input partition is read.
type Outcome = Arc<Vec<Mutex<Option<Vec<ReadBatch>>>>>;
/// A run of the de-duplication: the readers are spawned tasks, so that no output partition
/// waits for an input partition that nobody reads.
type Run = Shared<BoxFuture<'static, std::result::Result<Outcome, Arc<DataFusionError>>>>;

/// Where the rule's columns are in the input.
#[derive(Debug, Clone, Copy)]
struct RulePositions {
    contact_id: usize,
    partition: usize,
    last_update: usize,
    arrival: usize,
    source_uri: usize,
    source_offset: usize,
    sequence_number: usize,
}

impl NewestVersionsExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, output: Vec<usize>) -> Result<Self> {
        let input_schema = input.schema();
        let rule = RulePositions {
            contact_id: input_schema.index_of(CONTACT_ID)?,
            partition: input_schema.index_of(PARTITION)?,
            last_update: input_schema.index_of(LAST_UPDATE)?,
            arrival: input_schema.index_of(ARRIVAL)?,
            source_uri: input_schema.index_of(SOURCE_URI)?,
            source_offset: input_schema.index_of(SOURCE_OFFSET)?,
            sequence_number: input_schema.index_of(SEQUENCE_NUMBER)?,
        };
        let schema = Arc::new(input_schema.project(&output)?);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            input,
            output,
            rule,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
            run: Mutex::new(None),
        })
    }

    /// Spawns a reader per input partition into one shared table; the run ends with the
    /// winners of every partition.
    fn start(&self, context: &Arc<TaskContext>) -> Result<Run> {
        let partitions = self.input.output_partitioning().partition_count();
        let versions = Arc::new(Versions::new(self.rule));
        let readers = (0..partitions)
            .map(|partition| {
                let input = self.input.execute(partition, Arc::clone(context))?;
                let reservation = MemoryConsumer::new(format!("NewestVersionsExec[{partition}]"))
                    .register(context.memory_pool());
                let metrics = BaselineMetrics::new(&self.metrics, partition);
                Ok(SpawnedTask::spawn(read_partition(
                    Arc::clone(&versions),
                    input,
                    partition as u32,
                    reservation,
                    metrics,
                )))
            })
            .collect::<Result<Vec<_>>>()?;
        let run = async move {
            let mut read = Vec::with_capacity(readers.len());
            for reader in readers {
                read.push(
                    reader
                        .join_unwind()
                        .await
                        .map_err(|error| DataFusionError::ExecutionJoin(Box::new(error)))??,
                );
            }
            let versions = Arc::into_inner(versions).ok_or_else(|| {
                DataFusionError::Internal("NewestVersionsExec: a reader outlived its task".into())
            })?;
            Ok(Arc::new(
                versions
                    .winners(read, partitions)
                    .into_iter()
                    .map(|batches| Mutex::new(Some(batches)))
                    .collect(),
            ))
        };
        Ok(run.map_err(Arc::new).boxed().shared())
    }

    /// The run for one more output partition: the one under way until every partition has
    /// taken it, then a new one (a plan may be executed again).
    fn join_run(&self, context: &Arc<TaskContext>) -> Result<Run> {
        let partitions = self.properties.output_partitioning().partition_count();
        let mut current = self.run.lock().unwrap_or_else(PoisonError::into_inner);
        let (run, taken) = match current.take() {
            Some((run, taken)) if taken < partitions => (run, taken),
            _ => (self.start(context)?, 0),
        };
        if taken + 1 < partitions {
            *current = Some((run.clone(), taken + 1));
        }
        Ok(run)
    }
}

impl DisplayAs for NewestVersionsExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "NewestVersionsExec: per (dt, contact_id)")
    }
}

impl ExecutionPlan for NewestVersionsExec {
    fn name(&self) -> &str {
        "NewestVersionsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::try_new(input, self.output.clone())?)),
            _ => internal_err!("NewestVersionsExec takes one input"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let run = self.join_run(&context)?;
        let output = self.output.clone();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let emitted = futures::stream::once(async move {
            let outcome = run.await.map_err(DataFusionError::Shared)?;
            let taken = outcome
                .get(partition)
                .and_then(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).take());
            match taken {
                Some(batches) => Ok(emit_winners(batches, output, metrics)),
                None => internal_err!("NewestVersionsExec: partition {partition} taken twice"),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            emitted.try_flatten(),
        )))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    /// The input's statistics as upper bounds: the planner needs them to build joins on the
    /// small side (without them a two-row cross join built a hash table of every contact).
    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let Some(input) = input_stats.first() else {
            return internal_err!("NewestVersionsExec takes one input");
        };
        Ok(Arc::new(
            input
                .as_ref()
                .clone()
                .to_inexact()
                .project(Some(&self.output)),
        ))
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::LowerEqual
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One input batch's rule columns, typed once.
struct RuleColumns {
    contact_id: Text,
    partition: Text,
    last_update: TimestampMillisecondArray,
    arrival: TimestampMillisecondArray,
    source_uri: Text,
    source_offset: Int64Array,
    sequence_number: Text,
}

impl RuleColumns {
    fn of(batch: &RecordBatch, at: RulePositions) -> Result<Self> {
        let timestamps = |index: usize| match batch
            .column(index)
            .as_primitive_opt::<TimestampMillisecondType>()
        {
            Some(column) => Ok(column.clone()),
            None => internal_err!(
                "{} is not a millisecond timestamp",
                batch.schema().field(index).name()
            ),
        };
        Ok(Self {
            contact_id: Text::of(batch.column(at.contact_id))?,
            partition: Text::of(batch.column(at.partition))?,
            last_update: timestamps(at.last_update)?,
            arrival: timestamps(at.arrival)?,
            source_uri: Text::of(batch.column(at.source_uri))?,
            source_offset: match batch
                .column(at.source_offset)
                .as_primitive_opt::<Int64Type>()
            {
                Some(column) => column.clone(),
                None => return internal_err!("{SOURCE_OFFSET} is not a 64-bit integer"),
            },
            sequence_number: Text::of(batch.column(at.sequence_number))?,
        })
    }

    fn same_contact(&self, row: usize, other: &Self, other_row: usize) -> bool {
        self.contact_id.get(row) == other.contact_id.get(other_row)
            && self.partition.get(row) == other.partition.get(other_row)
    }
}

/// A text column in whichever string layout the scan produced.
enum Text {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
}

impl Text {
    fn of(column: &ArrayRef) -> Result<Self> {
        Ok(match column.data_type() {
            DataType::Utf8 => Self::Utf8(column.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Self::Large(column.as_string::<i64>().clone()),
            DataType::Utf8View => Self::View(column.as_string_view().clone()),
            // Partition columns may come dictionary-encoded.
            _ => Self::Utf8(cast(column, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    fn get(&self, row: usize) -> Option<&str> {
        match self {
            Self::Utf8(array) => array.is_valid(row).then(|| array.value(row)),
            Self::Large(array) => array.is_valid(row).then(|| array.value(row)),
            Self::View(array) => array.is_valid(row).then(|| array.value(row)),
        }
    }

    fn column(&self) -> &dyn Array {
        match self {
            Self::Utf8(array) => array,
            Self::Large(array) => array,
            Self::View(array) => array,
        }
    }
}

fn value<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, row: usize) -> Option<T::Native> {
    array.is_valid(row).then(|| array.value(row))
}

/// `Greater` when `a` wins in a descending order that puts missing values first (the SQL
/// default for `DESC`): a missing value above every value.
fn desc_nulls_first<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    a.is_none().cmp(&b.is_none()).then_with(|| a.cmp(&b))
}

/// `Greater` when `a` wins in a descending order that puts missing values last: `Option`'s own
/// order, a missing value below every value.
fn desc_nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    a.cmp(&b)
}

/// True when version `a` of a contact wins over version `b`: the order of
/// `queries/contacts.sql` (newest `last_update_timestamp`, then the later arrival, the later
/// source and position in it). Versions equal on every key are identical copies; the one seen
/// first stays.
fn newer(a: &RuleColumns, a_row: usize, b: &RuleColumns, b_row: usize) -> bool {
    fn sequence(columns: &RuleColumns, row: usize) -> Option<(usize, &str)> {
        let text = columns.sequence_number.get(row)?;
        Some((text.chars().count(), text))
    }
    desc_nulls_first(value(&a.last_update, a_row), value(&b.last_update, b_row))
        .then_with(|| desc_nulls_last(value(&a.arrival, a_row), value(&b.arrival, b_row)))
        .then_with(|| desc_nulls_first(a.source_uri.get(a_row), b.source_uri.get(b_row)))
        .then_with(|| {
            desc_nulls_last(
                value(&a.source_offset, a_row),
                value(&b.source_offset, b_row),
            )
        })
        .then_with(|| desc_nulls_last(sequence(a, a_row), sequence(b, b_row)))
        == Ordering::Greater
}

/// The best version seen of one contact: its hash and where it is (the batch's number in
/// [`Versions::batches`]).
struct Best {
    hash: u64,
    batch: u32,
    row: u32,
}

/// A batch read by some partition: its rule columns, and where its rows are kept.
struct BatchEntry {
    rules: Arc<RuleColumns>,
    partition: u32,
    index: u32,
}

/// Shards of the table of best versions: more than partitions, so that the partitions'
/// readers rarely wait for the same one.
const SHARDS: usize = 16;

/// The shard of a hash: bits that hashbrown uses neither for the bucket (low bits) nor for
/// its tag (top 7 bits) of tables under 2^32 buckets.
fn shard_of(hash: u64) -> usize {
    ((hash >> 32) as usize) % SHARDS
}

/// The versions read so far by every partition, and the best one per contact.
struct Versions {
    at: RulePositions,
    random_state: RandomState,
    shards: Vec<Mutex<HashTable<Best>>>,
    batches: RwLock<Vec<BatchEntry>>,
}

/// Per-reader buffers, reused from batch to batch.
#[derive(Default)]
struct Scratch {
    hashes: Vec<u64>,
    by_shard: Vec<Vec<u32>>,
}

impl Versions {
    fn new(at: RulePositions) -> Self {
        Self {
            at,
            random_state: RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            batches: RwLock::new(Vec::new()),
        }
    }

    /// The rule columns of batch number `batch`. (The list only grows, so a lock poisoned by
    /// a panicking reader still holds whole entries.)
    fn rules(&self, batch: u32) -> Option<Arc<RuleColumns>> {
        let batches = self.batches.read().unwrap_or_else(PoisonError::into_inner);
        batches
            .get(batch as usize)
            .map(|entry| Arc::clone(&entry.rules))
    }

    /// Takes the versions of `batch`, the `index`th batch of `partition`.
    fn add(
        &self,
        batch: &RecordBatch,
        partition: u32,
        index: u32,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let columns = Arc::new(RuleColumns::of(batch, self.at)?);
        scratch.hashes.clear();
        scratch.hashes.resize(batch.num_rows(), 0);
        create_hashes(
            [columns.contact_id.column()],
            &self.random_state,
            &mut scratch.hashes,
        )?;
        let id = {
            let mut batches = self.batches.write().unwrap_or_else(PoisonError::into_inner);
            let Ok(id) = u32::try_from(batches.len()) else {
                return internal_err!("NewestVersionsExec: more than 2^32 batches");
            };
            batches.push(BatchEntry {
                rules: Arc::clone(&columns),
                partition,
                index,
            });
            id
        };
        scratch.by_shard.resize_with(SHARDS, Vec::new);
        for rows in &mut scratch.by_shard {
            rows.clear();
        }
        for (row, &hash) in scratch.hashes.iter().enumerate() {
            scratch.by_shard[shard_of(hash)].push(row as u32);
        }
        // Each partition starts at another shard, so that readers do not queue behind each
        // other shard after shard.
        for step in 0..SHARDS {
            let shard = (step + partition as usize) % SHARDS;
            let rows = &scratch.by_shard[shard];
            if rows.is_empty() {
                continue;
            }
            let mut table = self.shards[shard]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for &row in rows {
                let hash = scratch.hashes[row as usize];
                let row = row as usize;
                // Versions of other batches are compared only when the whole hash matches:
                // when the contact comes back.
                let holder = |best: &Best| -> Option<Arc<RuleColumns>> {
                    match best.batch == id {
                        true => Some(Arc::clone(&columns)),
                        false => self.rules(best.batch),
                    }
                };
                // The columns of the version found, kept for the comparison that follows.
                let mut found_rules = None;
                let same = |best: &Best| {
                    if best.hash != hash {
                        return false;
                    }
                    match holder(best) {
                        Some(rules) if rules.same_contact(best.row as usize, &columns, row) => {
                            found_rules = Some(rules);
                            true
                        }
                        _ => false,
                    }
                };
                match table.find_mut(hash, same) {
                    Some(best) => {
                        if found_rules
                            .is_some_and(|rules| newer(&columns, row, &rules, best.row as usize))
                        {
                            best.batch = id;
                            best.row = row as u32;
                        }
                    }
                    None => {
                        table.insert_unique(
                            hash,
                            Best {
                                hash,
                                batch: id,
                                row: row as u32,
                            },
                            |best| best.hash,
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The batches read, with the rows that won, dealt to `outputs` partitions by the number
    /// of winners (the input partitions may be uneven: a file group holds whole files).
    fn winners(self, partitions: Vec<PartitionRows>, outputs: usize) -> Vec<Vec<ReadBatch>> {
        let mut masks: Vec<Vec<BooleanBufferBuilder>> = partitions
            .iter()
            .map(|rows| {
                rows.batches
                    .iter()
                    .map(|batch| {
                        let mut mask = BooleanBufferBuilder::new(batch.num_rows());
                        mask.append_n(batch.num_rows(), false);
                        mask
                    })
                    .collect()
            })
            .collect();
        let batches = self
            .batches
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for shard in self.shards {
            for winner in shard.into_inner().unwrap_or_else(PoisonError::into_inner) {
                let Some(entry) = batches.get(winner.batch as usize) else {
                    continue;
                };
                if let Some(mask) = masks
                    .get_mut(entry.partition as usize)
                    .and_then(|partition| partition.get_mut(entry.index as usize))
                {
                    mask.set_bit(winner.row as usize, true);
                }
            }
        }
        let mut dealt: Vec<Vec<ReadBatch>> = (0..outputs.max(1)).map(|_| Vec::new()).collect();
        let mut rows_dealt = vec![0usize; dealt.len()];
        for (rows, masks) in partitions.into_iter().zip(masks) {
            for (batch, mut mask) in rows.batches.into_iter().zip(masks) {
                let winners = mask.finish();
                let reservation = rows
                    .reservation
                    .split(batch.get_array_memory_size().min(rows.reservation.size()));
                let kept = winners.count_set_bits();
                if kept == 0 {
                    continue;
                }
                let Some((output, _)) = rows_dealt.iter().enumerate().min_by_key(|(_, n)| **n)
                else {
                    continue;
                };
                rows_dealt[output] += kept;
                dealt[output].push(ReadBatch {
                    batch,
                    winners,
                    _reservation: reservation,
                });
            }
        }
        dealt
    }
}

/// A batch read, the rows of it that won, and the memory it holds until emitted.
struct ReadBatch {
    batch: RecordBatch,
    winners: BooleanBuffer,
    _reservation: MemoryReservation,
}

/// What one partition read, and the memory it holds.
struct PartitionRows {
    batches: Vec<RecordBatch>,
    reservation: MemoryReservation,
}

/// Reads input partition `partition` to the end into `versions`.
async fn read_partition(
    versions: Arc<Versions>,
    mut input: SendableRecordBatchStream,
    partition: u32,
    reservation: MemoryReservation,
    metrics: BaselineMetrics,
) -> Result<PartitionRows> {
    let mut rows = PartitionRows {
        batches: Vec::new(),
        reservation,
    };
    let mut scratch = Scratch::default();
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let _timer = metrics.elapsed_compute().timer();
        rows.reservation.try_grow(batch.get_array_memory_size())?;
        let Ok(index) = u32::try_from(rows.batches.len()) else {
            return internal_err!("NewestVersionsExec: more than 2^32 batches in one partition");
        };
        versions.add(&batch, partition, index, &mut scratch)?;
        rows.batches.push(batch);
    }
    Ok(rows)
}

/// An output partition's batches filtered to the rows that won and projected to `output`.
fn emit_winners(
    batches: Vec<ReadBatch>,
    output: Vec<usize>,
    metrics: BaselineMetrics,
) -> impl futures::Stream<Item = Result<RecordBatch>> {
    let filtered = batches.into_iter().map(move |read| {
        let _timer = metrics.elapsed_compute().timer();
        let mask = BooleanArray::new(read.winners, None);
        let kept = read
            .batch
            .project(&output)
            .and_then(|projected| filter_record_batch(&projected, &mask))?;
        metrics.record_output(kept.num_rows());
        Ok(kept)
    });
    futures::stream::iter(filtered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One version per row: last update, arrival, source, offset, sequence number.
    type Version = (
        Option<i64>,
        Option<i64>,
        Option<&'static str>,
        Option<i64>,
        Option<&'static str>,
    );

    fn columns(versions: &[Version]) -> RuleColumns {
        let ids = StringArray::from(vec!["c"; versions.len()]);
        RuleColumns {
            contact_id: Text::Utf8(ids.clone()),
            partition: Text::Utf8(ids),
            last_update: versions.iter().map(|v| v.0).collect(),
            arrival: versions.iter().map(|v| v.1).collect(),
            source_uri: Text::Utf8(versions.iter().map(|v| v.2).collect()),
            source_offset: versions.iter().map(|v| v.3).collect(),
            sequence_number: Text::Utf8(versions.iter().map(|v| v.4).collect()),
        }
    }

    /// Pairs of versions where the first wins, as `ORDER BY` of `queries/contacts.sql` ranks
    /// them (Kinesis sequence numbers and missing values included, which the file-based
    /// golden tests cannot produce).
    #[test]
    fn versions_rank_as_the_sql_order_does() {
        let base: Version = (Some(2_000), Some(50), Some("s3://b/k"), Some(10), Some("9"));
        let wins: &[(Version, Version)] = &[
            ((Some(2_001), None, None, None, None), base),
            ((None, Some(50), None, None, None), base),
            ((Some(2_000), Some(51), None, None, None), base),
            (
                base,
                (Some(2_000), None, Some("s3://b/z"), Some(99), Some("99")),
            ),
            ((Some(2_000), Some(50), Some("s3://b/l"), None, None), base),
            ((Some(2_000), Some(50), None, None, None), base),
            (
                (Some(2_000), Some(50), Some("s3://b/k"), Some(11), None),
                base,
            ),
            (
                base,
                (Some(2_000), Some(50), Some("s3://b/k"), None, Some("99")),
            ),
            (
                (
                    Some(2_000),
                    Some(50),
                    Some("s3://b/k"),
                    Some(10),
                    Some("10"),
                ),
                base,
            ),
            (
                (Some(2_000), Some(50), Some("s3://b/k"), Some(10), Some("8")),
                (base.0, base.1, base.2, base.3, None),
            ),
            (
                (
                    Some(2_000),
                    Some(50),
                    Some("s3://b/k"),
                    Some(10),
                    Some("91"),
                ),
                (base.0, base.1, base.2, base.3, Some("90")),
            ),
        ];
        for (index, (winner, loser)) in wins.iter().enumerate() {
            let both = columns(&[*winner, *loser]);
            assert!(
                newer(&both, 0, &both, 1),
                "case {index}: {winner:?} wins over {loser:?}"
            );
            assert!(
                !newer(&both, 1, &both, 0),
                "case {index}: {loser:?} loses to {winner:?}"
            );
        }
        let twins = columns(&[base, base]);
        assert!(!newer(&twins, 0, &twins, 1) && !newer(&twins, 1, &twins, 0));
    }
}
