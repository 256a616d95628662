using Bcbp.Training.Backend;
using System.Diagnostics;
using Bcbp.Training.Config;
using Bcbp.Models;
using Bcbp.Training.Data;
using Bcbp.Training.Distributed;
using Bcbp.Training.Logging;
using Serilog;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Trains a classifier for one phase (dense training, or fine-tuning under a pruning hook): optimizer from
/// <c>train.optimizer</c>, learning rate per step from <see cref="LrSchedule"/>, cross-entropy with label smoothing,
/// hooks at the points <see cref="ITrainingHook"/> documents, evaluation and a checkpoint after every epoch.
/// The optimizer updates all parameters at once through <see cref="FlatParameters"/>, so build the trainer after the
/// model is on its device. <c>train.amp</c> and <c>train.channels_last</c> shape the forward pass through
/// <see cref="MixedPrecision"/> (fp32 master weights, half-type conv/linear, fp32 BatchNorm, loss and optimizer);
/// fp16 scales the loss with <see cref="LossScaler"/>. On CUDA the trainer turns cuDNN's benchmark mode on
/// (docs/training.md, "Mixed precision"). Data parallel (a <see cref="ICollective"/>, docs/distributed.md): the
/// weights and buffers start from rank 0's, rank 0's BatchNorm buffers are broadcast before every step (DDP's
/// broadcast_buffers) and at the end of every epoch (so the evaluation is of rank 0's model on every rank), the flat gradient is averaged over the ranks bucket by bucket (<see cref="FlatParameters.Buckets"/>),
/// each bucket as soon as backward has completed it (<see cref="BucketReducer"/>, <c>train.overlap_reduce</c>) or all
/// after backward, and the epoch's training metrics and the evaluation are summed over the ranks; every rank then
/// holds the same weights.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly nn.Module<Tensor, Tensor> _model;
    readonly TrainConfig _config;
    readonly IReadOnlyList<ITrainingHook> _hooks;
    readonly ILogger _log;
    readonly FlatParameters _flat;
    readonly ICollective? _collective;
    readonly BucketReducer? _reducer;
    FlatBuffers? _buffers;
    long _logStepShift;
    readonly MixedPrecision _precision;
    readonly LossScaler? _scaler;

    /// <summary>dense or finetune.</summary>
    public TrainingPhase Phase { get; }
    /// <summary>The phase as files and logs spell it (dense, finetune).</summary>
    string PhaseName => ConfigNames.Of(Phase);
    public int Epochs { get; }
    public optim.Optimizer Optimizer { get; }
    public LrSchedule Schedule { get; }
    public TrainContext Context { get; }
    /// <summary>The flat master parameters and gradient buckets the optimizer steps.</summary>
    public FlatParameters Parameters => _flat;
    /// <summary>What the forward pass computes in.</summary>
    public MixedPrecision Precision => _precision;
    /// <summary>Data parallel with <c>train.overlap_reduce</c>: the reducer that overlaps the gradient all-reduce with
    /// backward; null otherwise (no collective, or the all-reduce after backward).</summary>
    public BucketReducer? Reducer => _reducer;
    /// <summary>Data parallel, once <see cref="Fit"/> has begun: the BatchNorm buffers (every buffer but the masks) packed
    /// per dtype, broadcast from rank 0 before every step and at every epoch's end (one collective per dtype); null otherwise.</summary>
    public FlatBuffers? Buffers => _buffers;
    /// <summary>fp16's dynamic loss scale; null for off and bf16.</summary>
    public LossScaler? Scaler => _scaler;
    /// <summary>The last <see cref="Step"/> skipped its optimizer step (fp16: the gradient was not finite).</summary>
    public bool LastStepSkipped { get; private set; }

    public Trainer(nn.Module<Tensor, Tensor> model, TrainConfig config, TrainingPhase phase, int epochs, int stepsPerEpoch,
        Device device, IEnumerable<ITrainingHook>? hooks = null, ILogger? log = null, ICollective? collective = null,
        double lrScale = 1.0, long bucketBytes = FlatParameters.DefaultBucketBytes)
    {
        if (epochs < 0) throw new ArgumentException($"{ConfigNames.Of(phase)}: epochs must be >= 0, got {epochs}.");
        if (stepsPerEpoch <= 0) throw new ArgumentException($"{ConfigNames.Of(phase)}: the training split yields no batch (steps per epoch = {stepsPerEpoch}).");
        _model = model;
        _config = config;
        _hooks = hooks?.ToList() ?? new List<ITrainingHook>();
        _log = log ?? Serilog.Log.Logger;
        Phase = phase;
        Epochs = epochs;
        _collective = collective;
        bool cuda = device.type == DeviceType.CUDA;
        // Under mixed precision the half-computed parameters and the fp32 ones (BatchNorm) lie in two groups, so every
        // gradient bucket has one dtype and gathers in one kernel.
        var half = config.Amp == AmpMode.Off ? null : MixedPrecision.ComputeTyped(model);
        _flat = new FlatParameters(model, channelsLast: config.ChannelsLast ?? cuda, bucketBytes: bucketBytes,
            group: half is null ? null : p => half.Contains(p) ? 0 : 1);
        _reducer = collective is not null && config.OverlapReduce ? new BucketReducer(model, _flat, collective) : null;
        _precision = new MixedPrecision(model, _flat, config.Amp, _flat.ChannelsLast);
        _scaler = config.Amp == AmpMode.Fp16 ? new LossScaler() : null;
        // The batch shape is fixed while training: the one-off algorithm search per shape pays for itself.
        if (cuda) TorchBackend.SetCudnnBenchmark(true);
        Optimizer = OptimizerFactory.Create(config, new[] { _flat.Flat });
        Schedule = LrSchedule.FromConfig(config, epochs, stepsPerEpoch, lrScale);
        Context = new TrainContext { Model = model, Optimizer = Optimizer, Device = device, StepsPerEpoch = stepsPerEpoch, Log = _log };
    }

    /// <summary>Evaluates the model on <paramref name="test"/> the way this trainer's epochs do (its precision and
    /// layout), so a top-1 measured here equals one the training loop would report.</summary>
    public EvalMetrics Evaluate(IBatchSource test, int batchSize) => Evaluator.Evaluate(_model, test, batchSize, precision: _precision, collective: _collective);

    /// <summary>One optimizer step on a batch. Returns the mean loss and the number of correct top-1 predictions,
    /// as device tensors (reading them synchronizes; the caller decides when). Call inside a dispose scope.
    /// Under amp: OnBatchBegin sees the masters; the forward and backward and OnAfterBackward see the compute-type
    /// weights and gradients; the gradients are gathered into the fp32 master gradient, the parameters point at the
    /// masters again, and the optimizer and OnAfterOptimizerStep work on them. fp16 skips the optimizer step when the
    /// gradient is not finite (<see cref="LastStepSkipped"/>). With the overlapped all-reduce, OnAfterBackward runs after the
    /// reduction, on the master weights and the reduced fp32 gradient (as DDP's hooks see it).</summary>
    public (Tensor Loss, Tensor Correct) Step(Tensor input, Tensor target)
    {
        if (_collective is not null && _buffers is { Flats.Count: > 0 }) _collective.Broadcast(_buffers.Flats, 0);
        foreach (var h in _hooks) h.OnBatchBegin(Context);
        OptimizerFactory.SetLearningRate(Optimizer, Schedule.At(Context.GlobalStep));
        _flat.ClearGradients();
        Tensor logits, loss;
        using (_precision.UseComputeWeights())
        {
            using (_reducer?.Attach()) logits = MixedPrecision.Logits(_model.call(_precision.Input(input)));
            loss = Loss.CrossEntropy(logits, target, _config.LabelSmoothing);
            (_scaler is null ? loss : _scaler.ScaleLoss(loss)).backward();
            if (_reducer is not null)
            {
                // The buckets were reduced as backward completed them; the rest now, then wait (docs/distributed.md).
                _reducer.Finish();
            }
            else
            {
                foreach (var h in _hooks) h.OnAfterBackward(Context);
                _flat.GatherGradients();
                // Data parallel: the gradient averaged over the ranks, bucket by bucket (all buckets in one NCCL group).
                if (_collective is not null) _collective.AllReduce(_flat.Buckets.Select(bk => bk.View).ToList(), ReduceOp.Average);
            }
            // The compute-type gradients belong to the compute weights: free them before the optimizer step.
            if (_precision.Enabled) _flat.ClearGradients();
        }
        if (_reducer is not null)
        {
            // Overlapped: the hooks see the reduced fp32 gradient on the master weights (as with DDP, after the
            // reduction; the pruning hook's 0/1 masks are the same on every rank, so masking commutes with the mean).
            _reducer.ExposeGradients();
            foreach (var h in _hooks) h.OnAfterBackward(Context);
            _flat.ClearGradients();
        }
        LastStepSkipped = _scaler is not null && !_scaler.UnscaleAndUpdate(_flat.Gradient);
        if (!LastStepSkipped) Optimizer.step();
        foreach (var h in _hooks) h.OnAfterOptimizerStep(Context);
        Context.GlobalStep++;
        using var noGrad = no_grad();
        return (loss.detach(), logits.argmax(1).eq(target).sum());
    }

    /// <summary>Trains the remaining epochs of the phase (all of them, or those after the checkpoint when resuming),
    /// evaluating on <paramref name="test"/> after each.</summary>
    public FitResult Fit(IBatchSource train, IBatchSource test, FitOptions options)
    {
        var state = options.Carry ?? new CheckpointState { Phase = Phase };
        state = state with { Phase = Phase, Epoch = 0, GlobalStep = 0 };
        if (options.Resume)
        {
            if (options.CheckpointPath is null) throw new ArgumentException("resume needs a checkpoint path.");
            var saved = Checkpoint.ReadState(options.CheckpointPath);
            if (saved.Phase != Phase)
                throw new InvalidDataException($"checkpoint '{options.CheckpointPath}' is of phase '{ConfigNames.Of(saved.Phase)}', not '{PhaseName}'.");
            if (saved.ChannelsLast != _flat.ChannelsLast)
                throw new CheckpointException($"checkpoint '{options.CheckpointPath}' was written with train.channels_last " +
                    $"{(saved.ChannelsLast ? "true" : "false")} (its optimizer state is laid out so); resume with " +
                    $"--set train.channels_last={(saved.ChannelsLast ? "true" : "false")}, or start without --resume.");
            if (saved.GroupedByPrecision != _flat.Grouped)
                throw new CheckpointException($"checkpoint '{options.CheckpointPath}' was written with its parameters " +
                    $"{(saved.GroupedByPrecision ? "grouped by precision (train.amp on)" : "in one group (train.amp off)")}, and its optimizer " +
                    "state is laid out so; resume with the train.amp it was written with, or start without --resume.");
            state = saved;
        }
        if (_scaler is not null && state.LossScale is { } scale) _scaler.Restore(scale, state.LossScaleGoodSteps);
        Context.Epoch = state.Epoch;
        Context.GlobalStep = state.GlobalStep;
        _model.train();
        foreach (var h in _hooks) h.OnTrainBegin(Context);
        // Tensors load after OnTrainBegin: hooks may add buffers (weight_mask) that the checkpoint holds.
        if (options.Resume) Checkpoint.Load(options.CheckpointPath!, _model, Optimizer);
        // Checkpoints are written at epoch ends: a resume with another world size has another number of steps per epoch
        // and continues at the same epoch, at that epoch's first step of the schedule; the logged steps go on where the
        // run's event file stopped (TrainingRun opens it there by the same rule).
        var resumed = state.ResumedWith(WorldSize, Context.StepsPerEpoch);
        if (resumed.GlobalStep != state.GlobalStep)
            _log.Information("{Phase}: the checkpoint was written at step {Old} with {OldWorld} rank(s); with {World} rank(s) epoch {Epoch} " +
                             "starts at step {New} of the schedule", PhaseName, state.GlobalStep, state.WorldSize, WorldSize, state.Epoch + 1, resumed.GlobalStep);
        state = resumed;
        Context.GlobalStep = state.GlobalStep;
        _logStepShift = state.LogStepShift;
        if (options.Resume && state.Epoch > 0)
            _log.Information("Resuming {Phase} at epoch {Epoch}/{Epochs} (step {Step})", PhaseName, state.Epoch + 1, Epochs, state.GlobalStep);
        if (_collective is not null)
        {
            // Masks are computed from identical weights on every rank (and not sent each step: they are as large as
            // the weights); the other buffers (BatchNorm statistics) follow rank 0's before every step:
            // the weights and buffers start from rank 0's before every step. Packed per dtype, so a step broadcasts them
            // with one collective per dtype, not one per buffer (~160 for ResNet-50).
            var named = _model.named_buffers().ToArray();
            _buffers = new FlatBuffers(named.Where(b => !WeightMask.IsKey(b.name)).Select(b => b.buffer));
            var everything = _buffers.Flats.Prepend(_flat.Flat).Concat(named.Where(b => WeightMask.IsKey(b.name)).Select(b => b.buffer)).ToArray();
            _collective.Broadcast(everything, 0);
        }

        EvalMetrics? last = null;
        using var window = options.Scalars is not null && options.ScalarEvery > 0 ? new LossWindow(Context.Device) : null;
        for (int epoch = state.Epoch; epoch < Epochs; epoch++)
        {
            Context.Epoch = epoch;
            random.manual_seed(Seeds.ForEpoch(options.Seed, PhaseName, epoch));
            var clock = Stopwatch.StartNew();
            var (trainLoss, trainTop1, images) = TrainEpoch(train, options, epoch, window);
            double trainSeconds = clock.Elapsed.TotalSeconds;
            // The last step updated each rank's BatchNorm statistics with its own batch: evaluate (and let the hooks
            // and the checkpoint see) rank 0's, the model every rank then holds.
            if (_collective is not null && _buffers is { Flats.Count: > 0 }) _collective.Broadcast(_buffers.Flats, 0);
            foreach (var h in _hooks) h.OnEpochEnd(Context);
            last = Evaluator.Evaluate(_model, test, options.EvalBatchSize, options.Progress, $"{PhaseName} {epoch + 1}/{Epochs} eval", _precision, _collective);
            if (!double.IsFinite(last.Loss))
                throw Diverged(epoch, Context.StepsPerEpoch, Context.GlobalStep - 1, options, "the test loss after the epoch is not finite");
            double? sparsity = Sparsity();
            var metrics = new EpochMetrics
            {
                Phase = Phase, Epoch = epoch + 1, Lr = Schedule.At(Math.Max(0, Context.GlobalStep - 1)),
                TrainLoss = trainLoss, TrainTop1 = trainTop1, TestLoss = last.Loss, TestTop1 = last.Top1, TestTop5 = last.Top5,
                ImagesPerSecond = images / Math.Max(trainSeconds, 1e-9), Seconds = clock.Elapsed.TotalSeconds,
                Sparsity = sparsity, MaskUpdates = sparsity is null ? null : _hooks.SelectMany(h => h.TakeMaskUpdates()).ToList(),
            };
            _log.Information("{Phase} epoch {Epoch}/{Epochs}: train loss {TrainLoss:F4} top-1 {TrainTop1:F2}% | test loss {TestLoss:F4} " +
                             "top-1 {Top1:F2}% top-5 {Top5:F2}% |{SparsityText} lr {Lr:G4} | {ImagesPerSecond:F0} img/s, {Seconds:F1} s",
                PhaseName, epoch + 1, Epochs, trainLoss, trainTop1, last.Loss, last.Top1, last.Top5,
                sparsity is { } sp ? $" sparsity {sp * 100:F2}% |" : "", metrics.Lr, metrics.ImagesPerSecond, metrics.Seconds);
            WriteEpochScalars(options, metrics);
            state = state with
            {
                Epoch = epoch + 1, GlobalStep = Context.GlobalStep, WorldSize = WorldSize, LogStepShift = _logStepShift, BestTop1 = Math.Max(state.BestTop1, last.Top1),
                History = state.History.Append(metrics).ToList(),
                LossScale = _scaler?.Scale, LossScaleGoodSteps = _scaler?.GoodSteps ?? 0, ChannelsLast = _flat.ChannelsLast, GroupedByPrecision = _flat.Grouped,
            };
            if (options.CheckpointPath is not null && options.WritesFiles) Checkpoint.Save(options.CheckpointPath, state, _model, Optimizer);
            options.OnEpoch?.Invoke(metrics, state);
        }
        foreach (var h in _hooks) h.OnTrainEnd(Context);
        return new FitResult(state, last);
    }

    TrainingDivergedException Diverged(int epoch, long step, long globalStep, FitOptions options, string what)
    {
        bool kept = options.CheckpointPath is not null && File.Exists(options.CheckpointPath);
        return new TrainingDivergedException(PhaseName, epoch + 1, step, Schedule.At(Math.Max(0, globalStep)), what,
            kept ? options.CheckpointPath : null);
    }

    /// <summary>Ranks training together (1: the plain trainer).</summary>
    public int WorldSize => _collective?.WorldSize ?? 1;

    /// <summary>Steps between reads of the device-side divergence flag: one host sync per this many steps, not per step.</summary>
    public const int FiniteCheckEvery = 50;


    /// <summary>The epoch's scalars at the run-wide step, then a flush: the checkpoint written next may be resumed from,
    /// and everything up to its step must be in the event file by then.</summary>
    void WriteEpochScalars(FitOptions options, EpochMetrics m)
    {
        if (options.Scalars is not { } tb) return;
        long step = options.StepOffset + Context.GlobalStep + _logStepShift;
        tb.Scalar("loss/train", m.TrainLoss, step);
        tb.Scalar("loss/test", m.TestLoss, step);
        tb.Scalar("top1/train", m.TrainTop1, step);
        tb.Scalar("top1/test", m.TestTop1, step);
        tb.Scalar("top5/test", m.TestTop5, step);
        tb.Scalar("lr/epoch", m.Lr, step);
        tb.Scalar("throughput/train_images_per_sec", m.ImagesPerSecond, step);
        foreach (var (tag, value) in options.EpochScalars?.Invoke() ?? Enumerable.Empty<(string, double)>()) tb.Scalar(tag, value, step);
        tb.Flush();
    }

    /// <summary>The training loss summed on the device over the steps since the last per-step scalar; read (one host
    /// sync) every <see cref="FitOptions.ScalarEvery"/> steps.</summary>
    sealed class LossWindow(Device device) : IDisposable
    {
        readonly Tensor _sum = zeros(1, dtype: ScalarType.Float64, device: device);
        int _steps;

        public void Add(Tensor loss) { _sum.add_(loss.to_type(ScalarType.Float64)); _steps++; }

        public double TakeMean()
        {
            double mean = _sum.item<double>() / Math.Max(_steps, 1);
            _sum.zero_();
            _steps = 0;
            return mean;
        }

        public void Dispose() => _sum.Dispose();
    }

    /// <summary>The pruning hook's current sparsity (null when no hook prunes).</summary>
    double? Sparsity() => _hooks.Select(h => h.Sparsity).FirstOrDefault(v => v is not null);

    (double Loss, double Top1, long Images) TrainEpoch(IBatchSource train, FitOptions options, int epoch, LossWindow? window)
    {
        _model.train();
        using var lossSum = zeros(1, dtype: ScalarType.Float64, device: Context.Device);
        using var correct = zeros(1, dtype: ScalarType.Int64, device: Context.Device);
        // The 1-based step of the epoch whose loss was first NaN/inf (0: none yet), kept on the device and read every
        // FiniteCheckEvery steps, so a diverging run stops within a few steps without a host sync on each one.
        using var firstBad = zeros(1, dtype: ScalarType.Int64, device: Context.Device);
        using var stepNo = zeros(1, dtype: ScalarType.Int64, device: Context.Device);
        long epochStart = Context.GlobalStep;
        void ThrowIfDiverged()
        {
            long bad = firstBad.item<long>();
            if (_collective is not null)
            {
                // Every rank stops together: one that throws alone would leave the others waiting in a collective.
                using var anyBad = firstBad.gt(0).to_type(ScalarType.Int64);
                _collective.AllReduce(new[] { anyBad }, ReduceOp.Sum);
                if (bad == 0 && anyBad.item<long>() > 0)
                    throw Diverged(epoch, Context.GlobalStep - epochStart, Context.GlobalStep - 1, options, "the training loss of another rank is NaN or infinite");
            }
            if (bad > 0) throw Diverged(epoch, bad, epochStart + bad - 1, options, "the training loss is NaN or infinite");
        }
        long images = 0, counted = 0;
        int steps = 0;
        options.Progress.Run($"{PhaseName} {epoch + 1}/{Epochs}", Context.StepsPerEpoch, ticker =>
        {
            // Per-epoch scope: frees what the data source allocates for its batches; per-step scope: the step's tensors.
            using var epochScope = NewDisposeScope();
            foreach (var (input, target) in train.Batches(options.BatchSize, shuffle: true, options.Augment, options.DataEpochOffset + epoch))
            {
                using var stepScope = NewDisposeScope();
                long n = target.shape[0];
                var (loss, hits) = Step(input, target);
                stepNo.add_(1);
                images += n;
                if (LastStepSkipped)
                {
                    // An fp16 overflow the loss scaler handled: not divergence, and not part of the epoch's means.
                    if (_scaler!.Collapsed)
                        throw Diverged(epoch, steps + 1, Context.GlobalStep - 1, options,
                            $"the fp16 loss scale collapsed to {_scaler.Scale:G3} (every recent gradient overflowed)");
                }
                else
                {
                    lossSum.add_(loss.to_type(ScalarType.Float64) * n);
                    correct.add_(hits);
                    counted += n;
                    using (no_grad())
                        firstBad.copy_(where(firstBad.eq(0).logical_and_(loss.isfinite().logical_not_()), stepNo, firstBad));
                }
                if (++steps % FiniteCheckEvery == 0) ThrowIfDiverged();
                if (window is not null && !LastStepSkipped)
                {
                    window.Add(loss);
                    if (Context.GlobalStep % options.ScalarEvery == 0)
                    {
                        long step = options.StepOffset + Context.GlobalStep + _logStepShift;
                        options.Scalars!.Scalar("step/loss", window.TakeMean(), step);
                        options.Scalars.Scalar("step/lr", Schedule.At(Context.GlobalStep - 1), step);
                    }
                }
                ticker.Advance((int)n, () => $"loss {lossSum.item<double>() / Math.Max(counted, 1):F4}" + (Sparsity() is { } sp ? $" sparsity {sp * 100:F1}%" : ""));
            }
        });
        if (images == 0) throw new InvalidOperationException("the training split yielded no batch: check data.root and data.batch_size.");
        ThrowIfDiverged();
        if (counted == 0) throw Diverged(epoch, steps, Context.GlobalStep - 1, options, "every step of the epoch was skipped (fp16 gradients overflowed)");
        if (_collective is not null)
        {
            // The epoch's metrics over every rank's examples (each rank saw its shard).
            using var totals = cat(new[] { lossSum, correct.to_type(ScalarType.Float64),
                                           tensor(new[] { (double)counted, images }, ScalarType.Float64, Context.Device) });
            _collective.AllReduce(new[] { totals }, ReduceOp.Sum);
            var t = totals.cpu().data<double>().ToArray();
            return (t[0] / t[2], 100.0 * t[1] / t[2], (long)t[3]);
        }
        return (lossSum.item<double>() / counted, 100.0 * correct.item<long>() / counted, images);
    }

    bool _disposed;

    /// <summary>Frees what only this trainer holds once its phase is over — the optimizer's state (momentum), the flat
    /// gradient and its buckets, the mixed-precision compute copy, the last step's gradients — so the next phase's
    /// trainer does not train beside them (about 350 MB of GPU memory for a ResNet-50). The model keeps its weights.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Optimizer.Dispose();
        _flat.ClearGradients();
        _flat.DisposeGradient();
        _precision.Dispose();
    }
}
