using Bcbp.Training.Config;

namespace Bcbp.Tests.Config;

/// <summary>Loading, binding, validation and overrides of experiment configs (files written to a temp dir).</summary>
public class ConfigLoaderTests
{
    string _dir = "";

    [SetUp] public void SetUp() { _dir = Path.Combine(Path.GetTempPath(), "bcbp-config-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(_dir); }
    [TearDown] public void TearDown() => Directory.Delete(_dir, recursive: true);

    string Write(string name, string text) { var p = Path.Combine(_dir, name); Directory.CreateDirectory(Path.GetDirectoryName(p)!); File.WriteAllText(p, text); return p; }

    ExperimentConfig LoadJson(string json, params string[] sets) => ConfigLoader.Load(Write("c.json", json), sets, _dir);

    static string Errors(Action load) => Assert.Throws<ConfigException>(() => load())!.Message;

    const string FullJson = """
    {
      "name": "resnet20_fmnist_bcbp",
      "seed": 7,
      "device": "cuda:1",
      "model": { "arch": "resnet20", "num_classes": 10, "in_channels": 1, "pretrained": null },
      "data": { "dataset": "fashion_mnist", "root": "/tmp/fm", "batch_size": 64, "augment": false, "mean": [0.5], "std": [0.25] },
      "train": { "epochs": 3, "optimizer": "adamw", "lr": 0.001, "momentum": 0.8, "weight_decay": 0.01,
                 "lr_schedule": "step", "warmup_epochs": 1, "milestones": [1, 2] },
      "prune": { "method": "bcbp", "sparsity": 0.75, "tile_rows": 32, "exclude": ["conv1"],
                 "schedule": { "kind": "linear", "start_epoch": 1, "end_epoch": 2, "frequency": 10 } },
      "output_dir": "out/runs"
    }
    """;

    const string FullYaml = """
    name: resnet20_fmnist_bcbp
    seed: 7
    device: "cuda:1"
    model:
      arch: resnet20
      num_classes: 10
      in_channels: 1
      pretrained: null
    data:
      dataset: fashion_mnist
      root: /tmp/fm
      batch_size: 64
      augment: false
      mean: [0.5]
      std: [0.25]
    train:
      epochs: 3
      optimizer: adamw
      lr: 0.001
      momentum: 0.8
      weight_decay: 0.01
      lr_schedule: step
      warmup_epochs: 1
      milestones:
        - 1
        - 2
    prune:
      method: bcbp
      sparsity: 0.75
      tile_rows: 32
      exclude: [conv1]
      schedule:
        kind: linear
        start_epoch: 1
        end_epoch: 2
        frequency: 10
    output_dir: out/runs
    """;

    [Test]
    public void JsonAndYamlBindToTheSameTypedConfig()
    {
        var json = ConfigLoader.Load(Write("a.json", FullJson), null, _dir);
        var yaml = ConfigLoader.Load(Write("a.yaml", FullYaml), null, _dir);
        Assert.That(ConfigSerializer.ToJson(yaml), Is.EqualTo(ConfigSerializer.ToJson(json)));
        Assert.Multiple(() =>
        {
            Assert.That(json.Name, Is.EqualTo("resnet20_fmnist_bcbp"));
            Assert.That(json.Seed, Is.EqualTo(7));
            Assert.That(json.Device, Is.EqualTo("cuda:1"));
            Assert.That(json.OutputDir, Is.EqualTo("out/runs"));
            Assert.That(json.Model.InChannels, Is.EqualTo(1));
            Assert.That(json.Model.Pretrained, Is.Null);
            Assert.That(json.Data.BatchSize, Is.EqualTo(64));
            Assert.That(json.Data.Augment, Is.False);
            Assert.That(json.Data.Mean, Is.EqualTo(new[] { 0.5 }));
            Assert.That(json.Train.Optimizer, Is.EqualTo("adamw"));
            Assert.That(json.Train.Lr, Is.EqualTo(0.001));
            Assert.That(json.Train.Milestones, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(json.Prune!.Sparsity, Is.EqualTo(0.75));
            Assert.That(json.Prune.TileRows, Is.EqualTo(32));
            // A list in the file replaces the default ["conv1", "fc"]; it is not appended to it.
            Assert.That(json.Prune.Exclude, Is.EqualTo(new[] { "conv1" }));
            Assert.That(json.Prune.Schedule.Kind, Is.EqualTo("linear"));
            Assert.That(json.Prune.Schedule.StartEpoch, Is.EqualTo(1));
            Assert.That(json.Prune.Schedule.Frequency, Is.EqualTo(10));
            // Keys the file leaves out keep their defaults.
            Assert.That(json.Prune.Score, Is.EqualTo("l1"));
            Assert.That(json.Data.EvalBatchSize, Is.EqualTo(512));
        });
    }

    [Test]
    public void NullPruneAndEmptyListBind()
    {
        var c = LoadJson("""{ "prune": null, "model": { "in_channels": 1 } }""");
        Assert.That(c.Prune, Is.Null);
        var y = ConfigLoader.Load(Write("n.yml", "prune: null\nmodel:\n  in_channels: 1\n"), null, _dir);
        Assert.That(y.Prune, Is.Null);
        var e = LoadJson("""{ "prune": { "method": "filter", "exclude": [] }, "model": { "in_channels": 1 } }""");
        Assert.That(e.Prune!.Method, Is.EqualTo("filter"));
        Assert.That(e.Prune.Exclude, Is.Not.Null.And.Empty, "[] is an empty list");
        var n = LoadJson("""{ "prune": { "exclude": null, "schedule": {} }, "model": { "in_channels": 1 } }""");
        Assert.That(n.Prune!.Exclude, Is.Null, "null is null (the default exclusion)");
        Assert.That(n.Prune.Schedule.Kind, Is.EqualTo("cubic"), "{} keeps a section's defaults");
        var ye = ConfigLoader.Load(Write("e.yaml", "model: { in_channels: 1 }\nprune:\n  exclude: []\n"), null, _dir);
        Assert.That(ye.Prune!.Exclude, Is.Not.Null.And.Empty);
        var yn = ConfigLoader.Load(Write("f.yaml", "model: { in_channels: 1 }\nprune:\n  exclude: ~\n"), null, _dir);
        Assert.That(yn.Prune!.Exclude, Is.Null);
        Assert.That(LoadJson("""{ "prune": { "sparsity": 0.3 }, "model": { "in_channels": 1 } }""", "prune.exclude=[]").Prune!.Exclude, Is.Empty);
        Assert.That(LoadJson("""{ "prune": { "exclude": ["x"] }, "model": { "in_channels": 1 } }""", "prune.exclude=null").Prune!.Exclude, Is.Null);
    }

    [Test]
    public void UnknownKeyNamesItsPathAndSuggestsTheRightOne()
    {
        var msg = Errors(() => LoadJson("""{ "train": { "epochz": 3 } }"""));
        Assert.That(msg, Does.Contain("train.epochz: unknown key; did you mean 'train.epochs'?"));
        msg = Errors(() => LoadJson("""{ "train": { "batch_size": 3 } }"""));
        Assert.That(msg, Does.Contain("train.batch_size: unknown key; did you mean 'data.batch_size'?"));
        msg = Errors(() => LoadJson("""{ "prune": { "schedule": { "StartEpoch": 3 } } }"""));
        Assert.That(msg, Does.Contain("prune.schedule.StartEpoch: unknown key; did you mean 'prune.schedule.start_epoch'?"));
        msg = Errors(() => LoadJson("""{ "zzzzzzzz": 1 }"""));
        Assert.That(msg, Does.Contain("zzzzzzzz: unknown key; valid keys here: name, seed, device"));
    }

    [Test]
    public void WrongTypesNameThePathAndTheValue()
    {
        var msg = Errors(() => LoadJson("""{ "train": { "epochs": "abc", "lr": "fast", "nesterov": "yes" }, "prune": { "exclude": "conv1" }, "model": 3 }"""));
        Assert.Multiple(() =>
        {
            Assert.That(msg, Does.Contain("train.epochs: expected an integer, got 'abc'"));
            Assert.That(msg, Does.Contain("train.lr: expected a number, got 'fast'"));
            Assert.That(msg, Does.Contain("train.nesterov: expected true or false, got 'yes'"));
            Assert.That(msg, Does.Contain("prune.exclude: expected a list"));
            Assert.That(msg, Does.Contain("model: expected a section"));
        });
        msg = Errors(() => LoadJson("""{ "train": { "milestones": [1, "x"] } }"""));
        Assert.That(msg, Does.Contain("train.milestones[1]: expected an integer, got 'x'"));
    }

    [Test]
    public void OutOfRangeValuesAreAllReportedTogether()
    {
        var ex = Assert.Throws<ConfigException>(() => LoadJson("""
        { "device": "gpu", "model": { "arch": "resnet21", "in_channels": 1 },
          "data": { "batch_size": 0, "dataset": "fashion_mnist" },
          "train": { "epochs": -1, "lr": 0, "momentum": 1.0, "optimizer": "sdg" },
          "prune": { "sparsity": 1.0, "tile_rows": -1, "method": "magic",
                     "schedule": { "start_epoch": 5, "end_epoch": 2, "frequency": 0 } } }
        """))!;
        var expected = new[]
        {
            "device: expected cpu, cuda, cuda:N or auto, got 'gpu'",
            "model.arch: unknown value 'resnet21'; expected one of",
            "data.batch_size: must be >= 1, got 0",
            "train.epochs: must be >= 0, got -1",
            "train.lr: must be > 0, got 0",
            "train.momentum: must be in [0, 1), got 1",
            "train.optimizer: unknown value 'sdg'; expected one of sgd, adam, adamw (did you mean 'sgd'?)",
            "prune.sparsity: must be in [0, 1), got 1",
            "prune.tile_rows: must be >= 0, got -1",
            "prune.method: unknown value 'magic'",
            "prune.schedule.end_epoch: must be >= prune.schedule.start_epoch (5), got 2",
            "prune.schedule.frequency: must be >= 1, got 0",
        };
        foreach (var e in expected) Assert.That(ex.Errors, Has.Some.StartsWith(e), e);
        Assert.That(ex.Errors, Has.Count.EqualTo(expected.Length));
    }

    [Test]
    public void ModelMustFitTheDataset()
    {
        var msg = Errors(() => LoadJson("""{ "model": { "num_classes": 10, "in_channels": 3 }, "data": { "dataset": "cifar100" } }"""));
        Assert.That(msg, Does.Contain("model.num_classes: is 10 but data.dataset 'cifar100' has 100 classes"));
        msg = Errors(() => LoadJson("""{ "model": { "in_channels": 3 } }"""));
        Assert.That(msg, Does.Contain("model.in_channels: is 3 but data.dataset 'fashion_mnist' has 1-channel images"));
    }

    [Test]
    public void SetOverridesScalarsNestedKeysListsAndNull()
    {
        var c = ConfigLoader.Load(Write("a.json", FullJson), new[]
        {
            "train.epochs=9", "prune.schedule.start_epoch=0", "prune.exclude=[conv1, 'layer1.0.conv1', fc]",
            "data.root=null", "name=\"quoted name\"", "train.nesterov=true", "train.lr=5e-2",
        }, _dir);
        Assert.Multiple(() =>
        {
            Assert.That(c.Train.Epochs, Is.EqualTo(9));
            Assert.That(c.Prune!.Schedule.StartEpoch, Is.EqualTo(0));
            Assert.That(c.Prune.Schedule.EndEpoch, Is.EqualTo(2), "siblings of an overridden key stay");
            Assert.That(c.Prune.Exclude, Is.EqualTo(new[] { "conv1", "layer1.0.conv1", "fc" }));
            Assert.That(c.Data.Root, Is.Null);
            Assert.That(c.Name, Is.EqualTo("quoted name"));
            Assert.That(c.Train.Nesterov, Is.True);
            Assert.That(c.Train.Lr, Is.EqualTo(0.05));
        });
        var dense = ConfigLoader.Load(Write("a.json", FullJson), new[] { "prune=null" }, _dir);
        Assert.That(dense.Prune, Is.Null);
        var pruned = LoadJson("""{ "prune": null, "model": { "in_channels": 1 } }""", "prune.sparsity=0.9");
        Assert.That(pruned.Prune!.Sparsity, Is.EqualTo(0.9));
        Assert.That(pruned.Prune.Exclude, Is.Null, "keys not set keep their defaults");
        Assert.That(pruned.Prune.EffectiveExclude, Is.EqualTo(PruneConfig.DefaultExclude), "an unset exclude means the default");
        var msg = Errors(() => ConfigLoader.Load(Write("a.json", FullJson), new[] { "train.epocs=2", "train.epochs=x" }, _dir));
        Assert.That(msg, Does.Contain("train.epocs: unknown key; did you mean 'train.epochs'?"));
        Assert.That(msg, Does.Contain("train.epochs: expected an integer, got 'x'"));
        Assert.Throws<ArgumentException>(() => ConfigLoader.Load(Write("a.json", FullJson), new[] { "train.epochs" }, _dir));
    }

    [Test]
    public void NameIsFoundInConfigsOfAParentDirectory()
    {
        var target = Write("configs/resnet50_bcbp.json", """{ "name": "found", "model": { "in_channels": 1 } }""");
        var nested = Path.Combine(_dir, "Bcbp.Training", "bin");
        Directory.CreateDirectory(nested);
        Assert.That(ConfigLoader.Load("resnet50_bcbp.json", null, nested).Name, Is.EqualTo("found"));
        Assert.That(ConfigLoader.Load("resnet50_bcbp", null, nested).Name, Is.EqualTo("found"), "extension is optional");
        Assert.That(ConfigLoader.Load(target, null, "/").Name, Is.EqualTo("found"), "absolute path");
        Assert.That(PathResolver.Config("configs/resnet50_bcbp.json", _dir), Is.EqualTo(target));
        // The working directory wins over configs/.
        Write("Bcbp.Training/resnet50_bcbp.json", """{ "name": "local", "model": { "in_channels": 1 } }""");
        Assert.That(ConfigLoader.Load("resnet50_bcbp.json", null, Path.Combine(_dir, "Bcbp.Training")).Name, Is.EqualTo("local"));

        var ex = Assert.Throws<FileNotFoundException>(() => ConfigLoader.Load("nope.yaml", null, nested))!;
        Assert.That(ex.Message, Does.Contain(Path.Combine(nested, "nope.yaml")));
        Assert.That(ex.Message, Does.Contain(Path.Combine(nested, "configs", "nope.yaml")));
        Assert.That(ex.Message, Does.Contain(Path.Combine(_dir, "configs", "nope.yaml")));
    }

    [Test]
    public void MalformedFileAndUnknownExtensionAreNamed()
    {
        var bad = Write("bad.json", "{ \"train\": { \"epochs\": 3 ");
        var ex = Assert.Throws<InvalidDataException>(() => ConfigLoader.Load(bad, null, _dir))!;
        Assert.That(ex.Message, Does.Contain(bad).And.Contain("not valid JSON"));
        var badYaml = Write("bad.yaml", "train:\n  epochs: 3\n lr: [1\n");
        var ey = Assert.Throws<InvalidDataException>(() => ConfigLoader.Load(badYaml, null, _dir))!;
        Assert.That(ey.Message, Does.Contain(badYaml).And.Contain("not valid YAML"));
        var dup = Write("dup.yaml", "train:\n  epochs: 3\n  epochs: 4\n");
        Assert.That(Assert.Throws<InvalidDataException>(() => ConfigLoader.Load(dup, null, _dir))!.Message, Does.Contain("Duplicate key epochs"));
        var toml = Write("x.toml", "a = 1");
        Assert.That(Assert.Throws<ArgumentException>(() => ConfigLoader.Load(toml, null, _dir))!.Message, Does.Contain("use .json, .yaml or .yml"));
    }

    [Test]
    public void SerializedConfigLoadsBackAndHashesStably()
    {
        var c = ConfigLoader.Load(Write("a.yaml", FullYaml), null, _dir);
        var json = ConfigSerializer.ToJson(c);
        Assert.That(json, Does.Contain("\"output_dir\": \"out/runs\"").And.Contain("\"start_epoch\": 1").And.Contain("\"pretrained\": null"));
        var saved = Path.Combine(_dir, "run", "config.json");
        ConfigSerializer.Save(c, saved);
        var back = ConfigLoader.Load(saved, null, _dir);
        Assert.That(ConfigSerializer.ToJson(back), Is.EqualTo(json));
        Assert.That(ConfigSerializer.Hash(back), Is.EqualTo(ConfigSerializer.Hash(c)).And.Length.EqualTo(64));
        back.Train.Epochs++;
        Assert.That(ConfigSerializer.Hash(back), Is.Not.EqualTo(ConfigSerializer.Hash(c)));
        var dense = ConfigLoader.Load(Write("d.json", """{ "model": { "in_channels": 1 } }"""), null, _dir);
        Assert.That(ConfigSerializer.ToJson(dense), Does.Contain("\"prune\": null"));
        Assert.That(ConfigLoader.Load(Write("d2.json", ConfigSerializer.ToJson(dense)), null, _dir).Prune, Is.Null);
    }

    [Test]
    public void AmpAcceptsBoolsAndTypeNamesAndRejectsOthersInOneLine()
    {
        // Keys of the train section, written with ' for " to keep the lines readable.
        ExperimentConfig Train(string keys, params string[] sets) =>
            LoadJson("{ \"model\": { \"in_channels\": 1 }, \"train\": { " + keys.Replace('\'', '"') + " } }", sets);
        Assert.Multiple(() =>
        {
            Assert.That(Train("").Train.Amp, Is.EqualTo(AmpMode.Off));
            Assert.That(Train("").Train.ChannelsLast, Is.Null);
            Assert.That(Train("'amp': true").Train.Amp, Is.EqualTo(AmpMode.Bf16));
            Assert.That(Train("'amp': false").Train.Amp, Is.EqualTo(AmpMode.Off));
            Assert.That(Train("'amp': 'bf16', 'channels_last': true").Train.Amp, Is.EqualTo(AmpMode.Bf16));
            Assert.That(Train("'amp': 'fp16', 'channels_last': false").Train.ChannelsLast, Is.False);
            Assert.That(ConfigLoader.Load(Write("a.yaml", "model:\n  in_channels: 1\ntrain:\n  amp: fp16\n"), null, _dir).Train.Amp,
                        Is.EqualTo(AmpMode.Fp16));
            Assert.That(Train("", "train.amp=true").Train.Amp, Is.EqualTo(AmpMode.Bf16));
        });
        var e = Assert.Throws<ConfigException>(() => Train("'amp': 'fp8'"))!;
        Assert.That(e.Errors, Is.EqualTo(new[] { "train.amp: unknown value 'fp8'; expected one of off (or false), bf16 (or true), fp16" }));
        Assert.That(Errors(() => Train("'amp': null")), Does.Contain("train.amp: expected one of off"));
        Assert.That(Errors(() => Train("'channels_last': 'nhwc'")), Does.Contain("train.channels_last: expected true or false, got 'nhwc'"));
        // Written as the type's name, loaded back to the same value.
        var c = LoadJson("{ \"model\": { \"in_channels\": 1 }, \"train\": { \"amp\": true, \"channels_last\": true } }");
        var json = ConfigSerializer.ToJson(c);
        Assert.That(json, Does.Contain("\"amp\": \"bf16\"").And.Contain("\"channels_last\": true"));
        Assert.That(ConfigLoader.Load(Write("back.json", json), null, _dir).Train.Amp, Is.EqualTo(AmpMode.Bf16));
        Assert.That(ConfigSerializer.ToJson(LoadJson("{ \"model\": { \"in_channels\": 1 } }")),
                    Does.Contain("\"amp\": \"off\"").And.Contain("\"channels_last\": null"));
    }
}
