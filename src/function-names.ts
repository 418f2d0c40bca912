/**
 * Every function name of the app in one place: registrations, `callActivity` / `startNew` calls and tests all use
 * these, so a rename cannot leave a caller behind. Names are what operators see in logs and the status API. The two HTTP
 * starters that replace the original scripts keep those scripts' names, because producers hold function keys for them
 * (a function key belongs to one function name) and alerts may name them; docs/architecture.md, "Function names", maps
 * every name to what it does and to the original name where it differs.
 */
export const Triggers = {
  /** POST /api/containers/{container}/backup — the producer pipeline's last step. */
  httpStartContainerScan: "HttpSnapshotIncBackupContainerProducer",
  /** POST /api/reconcile. */
  httpStartReconciliation: "HttpSnapshotIncBackupStorageReconciliation",
  /** RECONCILE_SCHEDULE. */
  timerStartReconciliation: "TimerStartReconciliation",
  /** GET /api/status/{instanceId} — what every starter's Location points at. */
  httpGetStatus: "HttpGetInstanceStatus",
  /** BACKUP_QUEUE: starts the blob backup of each request, whatever the copy engine. */
  queueStartBlobBackup: "QueueStartBlobBackup",
  /** POST /api/restore. */
  httpStartRestore: "HttpStartRestore",
  /** GET /api/containers/{container}/versions?blob= — what the backup and the lake hold of one blob. */
  httpGetBlobVersions: "HttpGetBlobVersions",
  /** POST /api/retention. */
  httpStartRetention: "HttpStartRetention",
  /** RETENTION_SCHEDULE. */
  timerStartRetention: "TimerStartRetention",
} as const;

export const Orchestrators = {
  containerScan: "ContainerScanOrchestrator",
  reconciliation: "ReconciliationOrchestrator",
  containerReconciliation: "ContainerReconciliationOrchestrator",
  blobBackup: "BlobBackupOrchestrator",
  blobBatchBackup: "BlobBatchBackupOrchestrator",
  /** Bounded runs of a blob backup's ADF polls and copy steps, so no history grows with the length of a copy. */
  adfRunMonitor: "AdfRunMonitorOrchestrator",
  blobCopySteps: "BlobCopyStepsOrchestrator",
  restore: "RestoreOrchestrator",
  retention: "RetentionOrchestrator",
} as const;

/** Activity names; each feature adds its own here. */
export const Activities = {
  // Container scan.
  scanSourcePage: "ScanSourcePage",
  // Blob backup.
  prepareBlobBackup: "PrepareBlobBackup",
  acquireBlobLease: "AcquireBlobLease",
  renewBlobLease: "RenewBlobLease",
  releaseBlobLease: "ReleaseBlobLease",
  copyBlobServerSide: "CopyBlobServerSide",
  stageBackupBlocks: "StageBackupBlocks",
  commitBackupBlocks: "CommitBackupBlocks",
  startAdfCopyRun: "StartAdfCopyRun",
  getAdfCopyRun: "GetAdfCopyRun",
  cancelAdfCopyRun: "CancelAdfCopyRun",
  commitAdfStagedCopy: "CommitAdfStagedCopy",
  verifyBlobBackup: "VerifyBlobBackup",
  // Batched backups of small versions.
  copyBlobBatch: "CopyBlobBatch",
  requestBlobBackups: "RequestBlobBackups",
  // Reconciliation.
  planReconciliation: "PlanReconciliation",
  reconcileContainerWindow: "ReconcileContainerWindow",
  writeReconciliationReport: "WriteReconciliationReport",
  findStuckBackups: "FindStuckBackups",
  stageReconciliationReportPart: "StageReconciliationReportPart",
  planListingRanges: "PlanListingRanges",
  // Restore.
  prepareRestore: "PrepareRestore",
  restoreBatch: "RestoreBatch",
  writeRestoreReport: "WriteRestoreReport",
  // Retention.
  planRetention: "PlanRetention",
  retainContainerWindow: "RetainContainerWindow",
  purgeFinishedInstances: "PurgeFinishedInstances",
  writeRetentionReport: "WriteRetentionReport",
} as const;

/** External events raised by starters. */
export const Events = {
  /** A start for a container whose scan is running: the scan makes one more pass when it reaches the end. */
  rescanContainer: "RescanRequested",
} as const;
