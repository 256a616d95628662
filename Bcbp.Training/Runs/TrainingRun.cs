using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Transfer;
using Serilog;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Fitting;
using Bcbp.Training.Json;
using Bcbp.Training.Logging;
using Bcbp.Training.Pruning;

namespace Bcbp.Training.Runs;

/// <summary>
/// Runs one experiment end to end into <c>output_dir/name/</c>: dense phase (<c>train.epochs</c>, skipped when
/// <c>model.pretrained</c> is given), then, when <c>prune</c> is set, <c>prune.finetune_epochs</c> of fine-tuning
/// under the pruning hook; evaluation; final model, metrics, plot and results.json.
/// </summary>
public static class TrainingRun
{
    public const string CheckpointFile = "checkpoint.bin";

    public static RunResult Execute(ExperimentConfig config, RunOptions? options = null)
    {
        options ??= new RunOptions();
        string runDir = Path.GetFullPath(Path.Combine(config.OutputDir, config.Name));
        Directory.CreateDirectory(runDir);
        using var log = RunLog.Create(runDir, options.Quiet);
        try { return RunIn(runDir, config, options, log); }
        catch (Exception e)
        {
            // The CLI prints the one-line message; run.log keeps it with the stack trace.
            log.ForContext(RunLog.FileOnly, true).Error(e, "Run {Name} failed: {Message}", config.Name, e.Message);
            throw;
        }
    }

    static RunResult RunIn(string runDir, ExperimentConfig config, RunOptions options, ILogger log)
    {
        string checkpoint = Path.Combine(runDir, CheckpointFile);
        CheckpointState? saved = options.Resume ? Checkpoint.ReadState(checkpoint) : null;
        if (!options.Resume && File.Exists(checkpoint))
        {
            log.Warning("Starting {Name} afresh: the old checkpoint in {RunDir} is replaced (pass --resume to continue it)", config.Name, runDir);
            File.Delete(checkpoint);
        }
        string configHash = ConfigSerializer.Hash(config);
        if (saved is not null && saved.ConfigHash != configHash)
            log.Warning("The config differs from the one the checkpoint was written with (hash {Old} -> {New}); resuming anyway",
                saved.ConfigHash, configHash);
        ConfigSerializer.Save(config, Path.Combine(runDir, "config.json"));

        var device = TorchBackend.Initialize(config.Device, options.LibTorchDir);
        if (options.CpuThreads > 0) set_num_threads(options.CpuThreads);
        log.Information("Run {Name} on {Device} (libtorch {LibTorch}, {Threads} CPU threads), seed {Seed}, folder {RunDir}",
            config.Name, device.ToString(), TorchBackend.LibTorchDir ?? "bundled", get_num_threads(), config.Seed, runDir);
        if (config.Train.Amp)
            log.Warning("train.amp: TorchSharp 0.107 has no autocast/GradScaler; training runs in float32 (docs/training.md)");
        random.manual_seed(config.Seed);

        var (train, test) = DatasetFactory.Create(config.Data, device, config.Seed);
        var model = ModelFactory.Create(config.Model.Arch, config.Model.NumClasses, config.Model.InChannels);
        model.to(device);
        if (config.Model.Pretrained is { } pretrained)
        {
            var report = TransferLoader.Load(model, pretrained, new TransferOptions(config.Model.Strict, config.Model.ResetHead));
            log.Information("Loaded weights from {Pretrained}: {Report}", pretrained, report.Describe().ReplaceLineEndings("; "));
        }
        int stepsPerEpoch = (train.Count + config.Data.BatchSize - 1) / config.Data.BatchSize;
        var progress = Logging.Progress.ForConsole(log, options.ShowProgress);
        // Dense phase (a finetune checkpoint means it is done).
        bool finetuneSaved = saved?.Phase == TrainingPhase.Finetune;
        // Pretrained weights skip dense training, unless the head is new and must be fine-tuned.
        int denseEpochs = config.Model.Pretrained is null || config.Model.ResetHead ? config.Train.Epochs : 0;
        // One step axis for the run: fine-tuning continues after the dense steps. Resuming drops what an interrupted
        // start logged after the checkpoint's step.
        long denseSteps = (long)denseEpochs * stepsPerEpoch;
        long resumeStep = saved is null ? 0 : (finetuneSaved ? denseSteps : 0) + saved.GlobalStep;
        using var tensorBoard = config.Log.Tensorboard ? TensorBoardLog.Open(Path.Combine(runDir, TensorBoardLog.Folder), resumeStep) : null;
        var fit = new FitOptions
        {
            BatchSize = config.Data.BatchSize, EvalBatchSize = config.Data.EvalBatchSize, Augment = config.Data.Augment,
            Seed = config.Seed, Progress = progress, CheckpointPath = checkpoint,
            Scalars = tensorBoard, ScalarEvery = config.Log.TbEvery,
            OnEpoch = (_, state) => WriteCurves(runDir, config.Name, state.History),
        };

        var state = saved ?? new CheckpointState { Phase = TrainingPhase.Dense, ConfigHash = configHash };
        EvalMetrics? last = null;
        if (!finetuneSaved)
        {
            var dense = new Trainer(model, config.Train, TrainingPhase.Dense, denseEpochs, stepsPerEpoch, device, options.Hooks, log);
            var result = dense.Fit(train, test, fit with { Resume = saved is not null, Carry = state with { ConfigHash = configHash } });
            state = result.State;
            last = result.Last;
        }

        double? denseTop1 = null;
        PruningHook? hook = null;
        if (config.Prune is { } prune)
        {
            denseTop1 = finetuneSaved ? saved!.DenseTop1 : (last ?? Evaluator.Evaluate(model, test, config.Data.EvalBatchSize)).Top1;
            log.Information("Dense model: test top-1 {DenseTop1:F2}%", denseTop1);
            hook = PruningHook.Create(prune, model, stepsPerEpoch, log);
            var finetune = new Trainer(model, config.Train, TrainingPhase.Finetune, prune.FinetuneEpochs, stepsPerEpoch, device,
                new ITrainingHook[] { hook }.Concat(options.Hooks), log);
            var result = finetune.Fit(train, test, fit with
            {
                Resume = finetuneSaved, DataEpochOffset = denseEpochs, Carry = state with { DenseTop1 = denseTop1 },
                StepOffset = denseSteps, EpochScalars = hook.SparsityScalars,
            });
            state = result.State;
            last = result.Last;
            hook.WriteReport(runDir);
        }

        var final = last ?? Evaluator.Evaluate(model, test, config.Data.EvalBatchSize);
        StateDictIO.Save(model, Path.Combine(runDir, "model.safetensors"));
        StateDictIO.Save(model, Path.Combine(runDir, "model.pt"));
        WriteCurves(runDir, config.Name, state.History);
        var run = new RunResult
        {
            Name = config.Name, RunDir = runDir, Top1 = final.Top1, Top5 = final.Top5, Loss = final.Loss, DenseTop1 = denseTop1,
            Method = config.Prune?.Method, TargetSparsity = config.Prune?.Sparsity, AchievedSparsity = hook?.AchievedSparsity,
            ModelFile = "model.safetensors", TrainSeconds = state.History.Sum(m => m.Seconds), Device = device.ToString(),
            ConfigHash = configHash, Commit = Provenance.Commit(), Machine = Provenance.Machine(device.ToString()),
            FinishedUtc = DateTime.UtcNow,
        };
        run.Write(Path.Combine(runDir, RunResult.FileName));
        log.Information("Done {Name}: test top-1 {Top1:F2}% top-5 {Top5:F2}% loss {Loss:F4} in {Seconds:F0} s -> {RunDir}",
            config.Name, final.Top1, final.Top5, final.Loss, run.TrainSeconds, runDir);
        return run;
    }

    static void WriteCurves(string runDir, string name, IReadOnlyList<EpochMetrics> history)
    {
        MetricsWriter.Write(runDir, history);
        LearningCurvePlot.Save(Path.Combine(runDir, "learning_curves.png"), history, name);
    }
}
