using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Transfer;
using Serilog;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Distributed;
using Bcbp.Training.Fitting;
using Bcbp.Training.Json;
using Bcbp.Training.Logging;
using Bcbp.Training.Pruning;
using Bcbp.Training.Pruning.Layers;
using Bcbp.Training.Pruning.Methods;

namespace Bcbp.Training.Runs;

/// <summary>
/// Runs one experiment end to end into <c>output_dir/name/</c>: dense phase (<c>train.epochs</c>, skipped when
/// <c>model.pretrained</c> is given), then, when <c>prune</c> is set, <c>prune.finetune_epochs</c> of fine-tuning
/// under the pruning hook; evaluation; final model, metrics, plot and results.json. In a data-parallel job
/// (<see cref="RunOptions.Distributed"/> or <see cref="RunOptions.Collective"/>, docs/distributed.md) every rank runs
/// this with its shard of the data; rank 0 alone locks, checks and writes the run folder, the others only read its
/// checkpoint to resume.
/// </summary>
public static class TrainingRun
{
    public const string CheckpointFile = "checkpoint.bin";
    /// <summary>The final model (state dict with weight_mask buffers) in the run folder.</summary>
    public const string ModelFile = "model.safetensors";

    /// <summary>Runs <paramref name="config"/>. Everything the run needs (config, device, threads, data files and
    /// shapes, the model on one batch, the pretrained weights, pruning patterns and tiles) is checked before the run
    /// folder is touched; then the folder is locked, and a run of another config in it is refused unless
    /// <see cref="RunOptions.Force"/>; only then are the previous run's files replaced.</summary>
    public static RunResult Execute(ExperimentConfig config, RunOptions? options = null)
    {
        options ??= new RunOptions();
        string runDir = Path.GetFullPath(Path.Combine(config.OutputDir, config.Name));
        var env = options.Collective is null ? options.Distributed ?? DistributedEnv.Single : null;
        int world = options.Collective?.WorldSize ?? env!.WorldSize;
        var inputs = Prepare(config, options, env, world);
        using var group = env is { IsDistributed: true } || env is not null && DistributedEnv.ForceCollective
            ? ProcessGroup.Join(env, inputs.Device, TorchBackend.LibTorchDir) : null;
        var collective = options.Collective ?? group?.Collective;
        var result = collective is { Rank: > 0 }
            ? ExecuteWorker(config, options, inputs, collective, runDir)
            : ExecuteMain(config, options, inputs, collective, runDir);
        group?.Finish();
        return result;
    }

    /// <summary>Rank 0 (or the only process): lock, check and write the run folder; tell the other ranks whether the
    /// run resumes, or that it could not start.</summary>
    static RunResult ExecuteMain(ExperimentConfig config, RunOptions options, Inputs inputs, ICollective? collective, string runDir)
    {
        bool told = false;
        void Tell(StartSignal signal)
        {
            if (collective is null || told) return;
            told = true;
            using var flag = full(1, (long)signal, ScalarType.Int64, inputs.Device);
            collective.Broadcast(new[] { flag }, 0);
        }
        try { return ExecuteMainIn(config, options, inputs, collective, runDir, Tell); }
        catch when (!told)
        {
            Tell(StartSignal.Failed);
            throw;
        }
    }

    /// <summary>What rank 0 tells the other ranks before training: start afresh, resume, or give up.</summary>
    enum StartSignal : long { Fresh = 0, Resume = 1, Failed = 2 }

    /// <summary>A rank other than 0: waits for rank 0's folder checks, reads the checkpoint when resuming, trains its
    /// shard, writes nothing.</summary>
    static RunResult ExecuteWorker(ExperimentConfig config, RunOptions options, Inputs inputs, ICollective collective, string runDir)
    {
        using var flag = full(1, -1L, ScalarType.Int64, inputs.Device);
        collective.Broadcast(new[] { flag }, 0);
        var signal = (StartSignal)flag.item<long>();
        if (signal == StartSignal.Failed)
            throw new InvalidOperationException($"rank 0 could not start run {config.Name} (its output says why); rank {collective.Rank} stops too.");
        var saved = signal == StartSignal.Resume ? Checkpoint.ReadState(Path.Combine(runDir, CheckpointFile)) : null;
        using var log = RunLog.Create(null, options.Quiet, warningsOnly: true);
        return RunIn(runDir, config, options, inputs, saved, ConfigSerializer.Hash(config), log, collective);
    }

    static RunResult ExecuteMainIn(ExperimentConfig config, RunOptions options, Inputs inputs, ICollective? collective, string runDir,
        Action<StartSignal> tell)
    {
        bool created = !Directory.Exists(runDir);
        Directory.CreateDirectory(runDir);
        RunLock runLock;
        try { runLock = RunLock.Acquire(runDir); }
        catch
        {
            if (created) Directory.Delete(runDir);
            throw;
        }
        using (runLock)
        {
            string checkpoint = Path.Combine(runDir, CheckpointFile);
            string configHash = ConfigSerializer.Hash(config);
            CheckpointState? saved;
            try
            {
                saved = options.Resume ? Checkpoint.ReadState(checkpoint) : null;
                if (saved is not null && saved.ConfigHash != configHash && options.Force) saved = null; // --force --resume: restart a changed run
                if (saved is null) RunFolder.CheckReplaceable(runDir, config, options.Force);
            }
            catch
            {
                runLock.Dispose();
                if (created) Directory.Delete(runDir, recursive: true);
                throw;
            }
            var replaced = saved is null ? RunFolder.ClearForFreshStart(runDir) : AtomicFile.CleanOrphans(runDir);
            tell(saved is null ? StartSignal.Fresh : StartSignal.Resume);
            using var log = RunLog.Create(runDir, options.Quiet);
            try
            {
                if (replaced.Count > 0 && saved is null)
                    log.Warning("Starting {Name} afresh in {RunDir}: removed the previous run's {Files} (pass --resume to continue a run)",
                        config.Name, runDir, string.Join(", ", replaced));
                else if (replaced.Count > 0)
                    log.Warning("Removed {Files} from {RunDir}: temp files of a write that was killed", string.Join(", ", replaced), runDir);
                return RunIn(runDir, config, options, inputs, saved, configHash, log, collective);
            }
            catch (Exception e)
            {
                // run.log keeps the stack trace; the console gets the caller's one line (the CLI's ErrorHandler).
                log.ForContext(RunLog.FileOnly, true).Error(e, "Run {Name} failed: {Message}", config.Name, e.Message);
                throw;
            }
        }
    }

    /// <summary>What a run trains on, built and checked before its folder is touched.</summary>
    sealed record Inputs(Device Device, IBatchSource Train, IBatchSource Test, nn.Module<Tensor, Tensor> Model, TransferReport? Transfer,
                         DataParallelPlan Plan, int TestCount);

    static Inputs Prepare(ExperimentConfig config, RunOptions options, DistributedEnv? env, int world)
    {
        TorchBackend.CheckCpuThreads(options.CpuThreads);
        // The global batch must split over the ranks: checked before anything loads.
        var plan = DataParallelPlan.Of(config.Data, config.Train, world);
        var device = TorchBackend.Initialize(DistributedEnv.DeviceOf(config.Device, env, options.LibTorchDir), options.LibTorchDir);
        TorchBackend.SetCpuThreads(options.CpuThreads);
        random.manual_seed(config.Seed);
        var (train, test) = DatasetFactory.Create(config.Data, device, config.Seed);
        if (train.ImageSize != test.ImageSize || train.Channels != test.Channels)
            throw new InvalidDataException(
                $"data: the training images are {train.Channels}x{train.ImageSize.Height}x{train.ImageSize.Width} but the test images " +
                $"{test.Channels}x{test.ImageSize.Height}x{test.ImageSize.Width} (data.root '{config.Data.Root}'); set data.image_size to " +
                "resize both, or fix the dataset files.");
        if (train.Channels != config.Model.InChannels)
            throw new ArgumentException($"model.in_channels is {config.Model.InChannels} but the images of data.dataset '{config.Data.Dataset}' " +
                                        $"have {train.Channels} channel(s); set model.in_channels to {train.Channels}.");
        if (Math.Max(train.NumClasses, test.NumClasses) > config.Model.NumClasses)
            throw new ArgumentException($"model.num_classes is {config.Model.NumClasses} but data.dataset '{config.Data.Dataset}' has " +
                                        $"{Math.Max(train.NumClasses, test.NumClasses)} classes; set model.num_classes to match.");
        var model = ModelFactory.Create(config.Model.Arch, config.Model.NumClasses, config.Model.InChannels);
        model.to(device);
        var transfer = config.Model.Pretrained is { } pretrained
            ? TransferLoader.Load(model, pretrained, new TransferOptions(config.Model.Strict, config.Model.ResetHead))
            : null;
        CheckForward(model, config, train, device);
        // prune.tile_rows 0: chosen from the model's prunable layers before the config is hashed and saved, so
        // config.json, the hash and the folder check all hold the choice.
        if (config.Prune is { TileRows: 0 } auto) auto.TileRows = TileShape.AutoRows(LayerDiscovery.Discover(model, auto).Select(l => l.M));
        if (config.Prune is { } prune) PruningHook.Check(prune, model);
        int testCount = test.Count;
        if (world > 1)
        {
            int rank = options.Collective?.Rank ?? env!.Rank;
            if (train is not IShardableSource trainShards || test is not IShardableSource testShards)
                throw new ArgumentException($"data.dataset '{config.Data.Dataset}' cannot be split over the ranks of a data-parallel job yet " +
                                            "(its batch source has no shards): train it on one GPU (without --gpus).");
            train = trainShards.Shard(new DataShard(rank, world), ShardRemainder.Pad);
            test = testShards.Shard(new DataShard(rank, world), ShardRemainder.Exact);
        }
        return new Inputs(device, train, test, model, transfer, plan, testCount);
    }

    /// <summary>One image through the model (eval mode: no statistics change), so an image size the architecture cannot
    /// take fails before the run starts, naming both.</summary>
    static void CheckForward(nn.Module<Tensor, Tensor> model, ExperimentConfig config, IBatchSource train, Device device)
    {
        var (h, w) = train.ImageSize;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var y = model.forward(zeros(new long[] { 1, train.Channels, h, w }, device: device));
            if (y.shape.Length != 2 || y.shape[1] != config.Model.NumClasses)
                throw new ArgumentException($"model.arch {config.Model.Arch} gives outputs of shape [{string.Join(", ", y.shape)}] on " +
                                            $"{h}x{w} images, not [1, {config.Model.NumClasses}].");
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            throw new ArgumentException($"model.arch {config.Model.Arch} cannot take {train.Channels}x{h}x{w} images " +
                $"({e.Message.Split('\n')[0]}); set data.image_size to a size the architecture supports (for example 32 or 224).", e);
        }
        finally { model.train(); }
    }

    static RunResult RunIn(string runDir, ExperimentConfig config, RunOptions options, Inputs inputs, CheckpointState? saved,
        string configHash, ILogger log, ICollective? collective)
    {
        // Rank 0 (or the only process) writes the run folder; the other ranks write nothing.
        bool main = collective is null || collective.Rank == 0;
        string checkpoint = Path.Combine(runDir, CheckpointFile);
        if (saved is not null && saved.ConfigHash != configHash)
            log.Warning("The config differs from the one the checkpoint was written with (hash {Old} -> {New}); resuming anyway",
                saved.ConfigHash, configHash);
        if (main) ConfigSerializer.Save(config, Path.Combine(runDir, RunFolder.ConfigFile));

        var (device, train, test, model, _, plan, testCount) = inputs;
        log.Information("Run {Name} on {Device} (libtorch {LibTorch}, {Threads} CPU threads), seed {Seed}, folder {RunDir}",
            config.Name, device.ToString(), TorchBackend.LibTorchDir ?? "bundled", get_num_threads(), config.Seed, runDir);
        bool channelsLast = config.Train.ChannelsLast ?? device.type == DeviceType.CUDA;
        log.Information("Precision: amp {Amp}, channels_last {ChannelsLast}", ConfigNames.Of(config.Train.Amp), channelsLast);
        if (inputs.Transfer is { } transfer)
            log.Information("Loaded weights from {Pretrained}: {Report}", config.Model.Pretrained, transfer.Describe().ReplaceLineEndings("; "));
        if (collective is not null)
            log.Information("Data parallel ({Backend}): {World} ranks, {PerRank} images per rank and step ({Global} per step), learning rate x{Scale:G4}",
                collective.GetType().Name, plan.WorldSize, plan.BatchPerRank, plan.GlobalBatch, plan.LrScale);
        // train is this rank's shard: its batches are the steps of every rank (the shards are padded to one size).
        int stepsPerEpoch = Batching.Count(train.Count, plan.BatchPerRank, shuffle: true);
        var progress = Logging.Progress.ForConsole(log, options.ShowProgress && main);
        // Dense phase (a finetune checkpoint means it is done).
        bool finetuneSaved = saved?.Phase == TrainingPhase.Finetune;
        // Pretrained weights skip dense training, unless the head is new and must be fine-tuned.
        int denseEpochs = config.Model.Pretrained is null || config.Model.ResetHead ? config.Train.Epochs : 0;
        // One step axis for the run: fine-tuning continues after the dense steps. Resuming drops what an interrupted
        // start logged after the checkpoint's step.
        long denseSteps = (long)denseEpochs * stepsPerEpoch;
        // A resume with another world size: the trainer's rule (CheckpointState.ResumedWith) keeps the logged step.
        var resumed = saved?.ResumedWith(plan.WorldSize, stepsPerEpoch);
        long resumeStep = resumed is null ? 0 : (finetuneSaved ? denseSteps : 0) + resumed.GlobalStep + resumed.LogStepShift;
        using var tensorBoard = config.Log.Tensorboard && main ? TensorBoardLog.Open(Path.Combine(runDir, TensorBoardLog.Folder), resumeStep) : null;
        var fit = new FitOptions
        {
            BatchSize = plan.BatchPerRank, EvalBatchSize = config.Data.EvalBatchSize, Augment = config.Data.Augment,
            Seed = config.Seed, Progress = progress, CheckpointPath = checkpoint, WritesFiles = main,
            Scalars = tensorBoard, ScalarEvery = config.Log.TbEvery,
            OnEpoch = main ? (_, state) => WriteCurves(runDir, CurveTitle(config), state.History) : null,
        };

        var state = saved ?? new CheckpointState { Phase = TrainingPhase.Dense, ConfigHash = configHash };
        EvalMetrics? last = null;
        if (!finetuneSaved)
        {
            // Disposed at the end of the phase: its optimizer state and gradient buffers are not fine-tuning's.
            using var dense = new Trainer(model, config.Train, TrainingPhase.Dense, denseEpochs, stepsPerEpoch, device, options.Hooks, log,
                collective, plan.LrScale);
            var result = dense.Fit(train, test, fit with { Resume = saved is not null, Carry = state with { ConfigHash = configHash } });
            state = result.State;
            last = result.Last;
        }

        double? denseTop1 = null;
        PruningHook? hook = null;
        if (config.Prune is { } prune)
        {
            hook = PruningHook.Create(prune, model, stepsPerEpoch, log);
            using var finetune = new Trainer(model, config.Train, TrainingPhase.Finetune, prune.FinetuneEpochs, stepsPerEpoch, device,
                new ITrainingHook[] { hook }.Concat(options.Hooks), log, collective, plan.LrScale);
            // Measured as the dense run's epochs measured it (same precision, every rank's shard), so a suite can match the two.
            denseTop1 = finetuneSaved ? saved!.DenseTop1 : (last ?? finetune.Evaluate(test, config.Data.EvalBatchSize)).Top1;
            log.Information("Dense model: test top-1 {DenseTop1:F2}%", denseTop1);
            var result = finetune.Fit(train, test, fit with
            {
                Resume = finetuneSaved, DataEpochOffset = denseEpochs, Carry = state with { DenseTop1 = denseTop1 },
                StepOffset = denseSteps, EpochScalars = hook.SparsityScalars,
            });
            state = result.State;
            last = result.Last;
            if (main) hook.WriteReport(runDir);
        }

        var final = last ?? Evaluator.Evaluate(model, test, config.Data.EvalBatchSize, collective: collective);
        if (main)
        {
            StateDictIO.Save(model, Path.Combine(runDir, ModelFile));
            StateDictIO.Save(model, Path.Combine(runDir, "model.pt"));
            WriteCurves(runDir, CurveTitle(config), state.History);
        }
        var run = new RunResult
        {
            Name = config.Name, RunDir = runDir, Top1 = final.Top1, Top5 = final.Top5, Loss = final.Loss, DenseTop1 = denseTop1,
            TestSamples = testCount,
            Method = config.Prune?.Method, TargetSparsity = config.Prune?.Sparsity, AchievedSparsity = hook?.AchievedSparsity,
            ModelFile = ModelFile, TrainSeconds = state.History.Sum(m => m.Seconds), Device = device.ToString(),
            ConfigHash = configHash, Commit = Provenance.Commit(), Machine = Provenance.Machine(device.ToString()),
            FinishedUtc = DateTime.UtcNow,
        };
        if (!main) return run;
        run.Write(Path.Combine(runDir, RunResult.FileName));
        log.Information("Done {Name}: test top-1 {Top1:F2}% top-5 {Top5:F2}% loss {Loss:F4} in {Seconds:F0} s -> {RunDir}",
            config.Name, final.Top1, final.Top5, final.Loss, run.TrainSeconds, runDir);
        return run;
    }

    /// <summary>"NAME: ARCH on DATASET" (the data.dataset actually trained on).</summary>
    static string CurveTitle(ExperimentConfig config) => $"{config.Name}: {config.Model.Arch} on {config.Data.Dataset}";

    static void WriteCurves(string runDir, string title, IReadOnlyList<EpochMetrics> history)
    {
        MetricsWriter.Write(runDir, history);
        LearningCurvePlot.Save(Path.Combine(runDir, "learning_curves.png"), history, title);
    }
}
