namespace Bcbp.Training.Config;

/// <summary>What Bcbp knows about a dataset before reading it: shape, classes, standard normalization, default root
/// (searched with its Bcbp.Training.Data.DataLayout subfolders).
/// Null fields are not fixed (an image folder's classes come from its subfolders).</summary>
public sealed record DatasetInfo(string Name, int? NumClasses, int? Channels, int NativeSize, double[] Mean, double[] Std,
                                 string? DefaultRoot);

/// <summary>The datasets <c>data.dataset</c> accepts, by config name (Bcbp.Training.Data.DatasetFactory reads them); config validation checks names, classes and channels against it.</summary>
public static class DatasetCatalog
{
    public const string FashionMnist = "fashion_mnist";
    public const string Mnist = "mnist";
    public const string Cifar10 = "cifar10";
    public const string Cifar100 = "cifar100";
    public const string ImageFolder = "image_folder";
    public const string Synthetic = "synthetic";

    static readonly DatasetInfo[] All =
    {
        new(FashionMnist, 10, 1, 28, new[] { 0.2860 }, new[] { 0.3530 }, "/usr/share/datasets/fashion-mnist"),
        new(Mnist, 10, 1, 28, new[] { 0.1307 }, new[] { 0.3081 }, "data"),
        new(Cifar10, 10, 3, 32, new[] { 0.4914, 0.4822, 0.4465 }, new[] { 0.2470, 0.2435, 0.2616 }, "data"),
        new(Cifar100, 100, 3, 32, new[] { 0.5071, 0.4865, 0.4409 }, new[] { 0.2673, 0.2564, 0.2762 }, "data"),
        new(ImageFolder, null, 3, 224, new[] { 0.485, 0.456, 0.406 }, new[] { 0.229, 0.224, 0.225 }, null),
        new(Synthetic, null, null, 32, new[] { 0.5 }, new[] { 0.25 }, null),
    };

    public static IReadOnlyList<string> Names { get; } = All.Select(d => d.Name).ToArray();

    public static bool TryGet(string? name, out DatasetInfo info)
    {
        info = All.FirstOrDefault(d => d.Name == name)!;
        return info is not null;
    }

    public static DatasetInfo Get(string name) => TryGet(name, out var info) ? info
        : throw new ArgumentException($"data.dataset: unknown dataset '{name}'; expected one of {string.Join(", ", Names)}");
}
