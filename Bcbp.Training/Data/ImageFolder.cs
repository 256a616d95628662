namespace Bcbp.Training.Data;

/// <summary>
/// The files of an ImageNet-style folder: <c>root/train/CLASS/*.jpg|jpeg|png</c> and <c>root/val/CLASS/...</c>.
/// Classes are the train subfolders in ordinal order (torchvision's ImageFolder order), so label i means the same
/// class in both splits.
/// </summary>
public sealed record ImageFolder(IReadOnlyList<string> Classes, IReadOnlyList<string> Files, long[] Labels)
{
    static readonly string[] Extensions = { ".jpg", ".jpeg", ".png" };

    /// <summary>Scans <c>root/split</c>; <paramref name="classes"/> (from train) fixes the labels of val.</summary>
    public static ImageFolder Scan(string root, string split, IReadOnlyList<string>? classes = null)
    {
        var dir = Path.Combine(root, split);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException(
                $"image folder split '{dir}' not found. data.root must hold train/CLASS/*.jpg and val/CLASS/*.jpg " +
                "(one subfolder per class, the same class names in both); see docs/data.md");
        var found = Directory.GetDirectories(dir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (found.Count == 0)
            throw new InvalidDataException($"'{dir}' has no class subfolders; put each class's images in '{dir}/CLASS_NAME/'");
        classes ??= found;
        var unknown = found.Except(classes).ToList();
        if (unknown.Count > 0)
            throw new InvalidDataException($"'{dir}' has class folders that train/ lacks: {string.Join(", ", unknown.Take(5))}; " +
                                           "val/ must use the class names of train/");
        var files = new List<string>();
        var labels = new List<long>();
        for (int c = 0; c < classes.Count; c++)
        {
            var classDir = Path.Combine(dir, classes[c]);
            if (!Directory.Exists(classDir)) continue; // a val split may lack a class
            var images = Directory.EnumerateFiles(classDir, "*", SearchOption.AllDirectories)
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToList();
            if (images.Count == 0 && split == "train")
                throw new InvalidDataException($"class folder '{classDir}' has no .jpg, .jpeg or .png files");
            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat((long)c, images.Count));
        }
        return new ImageFolder(classes, files, labels.ToArray());
    }
}
