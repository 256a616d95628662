using Bcbp.Training.Data;

namespace Bcbp.Training.Config;

/// <summary>The <c>data</c> section. docs/data.md says how to bring each dataset.</summary>
public sealed class DataConfig : IConfigSection
{
    /// <summary>fashion_mnist, mnist, cifar10, cifar100, image_folder, synthetic (<see cref="DatasetCatalog"/>).</summary>
    public string Dataset { get; set; } = "fashion_mnist";
    /// <summary>Folder with the dataset's files; null: the dataset's default (see docs/data.md).</summary>
    public string? Root { get; set; }
    public int BatchSize { get; set; } = 128;
    public int EvalBatchSize { get; set; } = 512;
    /// <summary>Training augmentation: random crop with padding + horizontal flip (random-resized-crop + flip for
    /// image folders). Normalization always applies.</summary>
    public bool Augment { get; set; } = true;
    /// <summary>Padding of the random crop for small images, in pixels.</summary>
    public int CropPadding { get; set; } = 4;
    /// <summary>Side of the square images the model sees; 0: the dataset's own (28 MNIST, 32 CIFAR, 224 image
    /// folders, 32 synthetic).</summary>
    public int ImageSize { get; set; }
    /// <summary>Use only the first N training examples; 0: all (synthetic: 5000).</summary>
    public int NumTrain { get; set; }
    /// <summary>Use only the first N test examples; 0: all (synthetic: 1000).</summary>
    public int NumTest { get; set; }
    /// <summary>Synthetic only: number of classes.</summary>
    public int NumClasses { get; set; } = 10;
    /// <summary>Synthetic only: image channels.</summary>
    public int Channels { get; set; } = 3;
    /// <summary>Per-channel normalization mean; empty: the dataset's standard values.</summary>
    public List<double> Mean { get; set; } = new();
    /// <summary>Per-channel normalization std; empty: the dataset's standard values.</summary>
    public List<double> Std { get; set; } = new();
    /// <summary>Image folders: threads that decode images (one pool for the pass).</summary>
    public int Workers { get; set; } = 4;
    /// <summary>Image folders: batches decoded ahead of the one in use, each in its own reusable buffer of
    /// batch_size x image_size^2 x 4 bytes (page-locked on CUDA).</summary>
    public int Prefetch { get; set; } = 3;

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.OneOf(ConfigErrors.Join(path, "dataset"), Dataset, DatasetCatalog.Names);
        errors.AtLeast(ConfigErrors.Join(path, "batch_size"), BatchSize, 1);
        errors.AtLeast(ConfigErrors.Join(path, "eval_batch_size"), EvalBatchSize, 1);
        errors.AtLeast(ConfigErrors.Join(path, "crop_padding"), CropPadding, 0);
        errors.AtLeast(ConfigErrors.Join(path, "image_size"), ImageSize, 0);
        errors.AtLeast(ConfigErrors.Join(path, "num_train"), NumTrain, 0);
        errors.AtLeast(ConfigErrors.Join(path, "num_test"), NumTest, 0);
        errors.AtLeast(ConfigErrors.Join(path, "num_classes"), NumClasses, 2);
        errors.AtLeast(ConfigErrors.Join(path, "channels"), Channels, 1);
        errors.AtLeast(ConfigErrors.Join(path, "workers"), Workers, 1);
        errors.AtLeast(ConfigErrors.Join(path, "prefetch"), Prefetch, 1);
        if (Mean.Count != Std.Count)
            errors.Add(ConfigErrors.Join(path, "std"), $"has {Std.Count} values but data.mean has {Mean.Count}; give both or neither");
        for (int i = 0; i < Std.Count; i++) errors.Positive($"{ConfigErrors.Join(path, "std")}[{i}]", Std[i]);
        if (DatasetCatalog.TryGet(Dataset, out var info))
        {
            int channels = info.Channels ?? Channels;
            if (Mean.Count != 0 && Mean.Count != channels)
                errors.Add(ConfigErrors.Join(path, "mean"), $"has {Mean.Count} values but '{Dataset}' images have {channels} channels");
            if (info.DefaultRoot is null && string.IsNullOrWhiteSpace(Root) && Dataset != DatasetCatalog.Synthetic)
                errors.Add(ConfigErrors.Join(path, "root"), $"is required for dataset '{Dataset}' (the folder holding train/ and val/)");
        }
    }
}
