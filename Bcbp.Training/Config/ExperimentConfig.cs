namespace Bcbp.Training.Config;

/// <summary>One experiment: what to train or load, how to prune it, and where results go. Keys are snake_case in
/// files (<c>output_dir</c>) and PascalCase here (<see cref="OutputDir"/>).</summary>
public sealed class ExperimentConfig
{
    public string Name { get; set; } = "experiment";
    public int Seed { get; set; }
    /// <summary>cpu, cuda, cuda:N or auto.</summary>
    public string Device { get; set; } = "cpu";
    public ModelConfig Model { get; set; } = new();
    public DataConfig Data { get; set; } = new();
    public TrainConfig Train { get; set; } = new();
    /// <summary>Null: no pruning (a dense run).</summary>
    public PruneConfig? Prune { get; set; }
    public string OutputDir { get; set; } = "runs";
}

/// <summary>The <c>model</c> section.</summary>
public sealed class ModelConfig
{
    /// <summary>resnet18/34/50/101, vgg11/13/16/19[_bn], resnet20/32/44/56/110 (CIFAR), vgg16_cifar.</summary>
    public string Arch { get; set; } = "resnet20";
    public int NumClasses { get; set; } = 10;
    public int InChannels { get; set; } = 3;
    /// <summary>Path to a .pt/.pth (torch.save state dict) or .safetensors file to start from.</summary>
    public string? Pretrained { get; set; }
}

/// <summary>The <c>data</c> section.</summary>
public sealed class DataConfig
{
    /// <summary>fashion_mnist, mnist, cifar10, cifar100, image_folder, synthetic.</summary>
    public string Dataset { get; set; } = "fashion_mnist";
    public string? Root { get; set; }
    public int BatchSize { get; set; } = 128;
    public int EvalBatchSize { get; set; } = 512;
    public bool Augment { get; set; } = true;
}

/// <summary>The <c>train</c> section (dense training and pruning fine-tuning share it).</summary>
public sealed class TrainConfig
{
    public int Epochs { get; set; } = 15;
    /// <summary>sgd, adam, adamw.</summary>
    public string Optimizer { get; set; } = "sgd";
    public double Lr { get; set; } = 0.1;
    public double Momentum { get; set; } = 0.9;
    public bool Nesterov { get; set; }
    public double WeightDecay { get; set; } = 5e-4;
    /// <summary>cosine, step, constant.</summary>
    public string LrSchedule { get; set; } = "cosine";
    public int WarmupEpochs { get; set; }
    /// <summary>Epochs at which the <c>step</c> schedule multiplies the learning rate by <see cref="LrGamma"/>;
    /// empty: at 50% and 75% of the epochs.</summary>
    public List<int> LrMilestones { get; set; } = new();
    public double LrGamma { get; set; } = 0.1;
    /// <summary>Label smoothing of the cross-entropy loss (0 = none), as torch.nn.CrossEntropyLoss(label_smoothing).</summary>
    public double LabelSmoothing { get; set; }
}
