//! A device per layer: a network description can keep layers digital or put them on another
//! device. All digital equals bp-digital; all on the chip's device equals today's run; a
//! digital layer costs digital operations only; rules never need a transposed analog weight
//! because of it; deployment keeps digital layers digital; bad configurations are errors
//! naming the field.

use mortalsim::crossbar::Counters;
use mortalsim::device::Device;
use mortalsim::experiment::Experiment;
use mortalsim::learn::{self, Learner, Options};
use mortalsim::net::deploy::{DeploySpec, DeployedNetwork};
use mortalsim::net::{Activation, LayerDevice, NetSpec, NetworkWeights, Role};
use nalgebra::DMatrix;

fn spec(layers: Vec<LayerDevice>) -> NetSpec {
    NetSpec {
        layer_devices: layers,
        ..NetSpec::new(vec![20, 16, 12, 4], Activation::Relu)
    }
}

fn data() -> (DMatrix<f32>, Vec<usize>) {
    let x = DMatrix::from_fn(20, 8, |i, j| ((i + 3 * j) % 7) as f32 / 7.0);
    (x, vec![0, 1, 2, 3, 0, 1, 2, 3])
}

/// Five steps of `rule`; the losses, the final scores and the learner.
fn train(rule: &str, spec: &NetSpec, dev: &Device) -> (Vec<f32>, DMatrix<f32>, Box<dyn Learner>) {
    let (x, y) = data();
    let mut l = learn::build(rule, spec, dev, 3, &Options::default()).unwrap();
    let losses = (0..5).map(|_| l.step(&x, &y, 0.1)).collect();
    let s = l.scores(&x);
    (losses, s, l)
}

fn all(d: LayerDevice) -> Vec<LayerDevice> {
    vec![d.clone(), d.clone(), d]
}

#[test]
fn every_layer_digital_is_bp_digital_bit_for_bit() {
    let pcm = Device::load("pcm").unwrap();
    let (l0, s0, d) = train("bp-digital", &spec(vec![]), &pcm);
    let (l1, s1, o) = train("bp-oracle", &spec(all(LayerDevice::Digital)), &pcm);
    assert_eq!(l0, l1);
    assert_eq!(s0, s1);
    // The same work, all of it digital; priced with the chip's own table.
    assert_eq!(d.counters(), o.counters());
    assert_eq!(o.counters().reads, 0);
    assert_eq!(
        o.counters().oracle_reads,
        0,
        "a digital layer needs no oracle"
    );
    assert_eq!(o.energy_j(), o.counters().energy(&pcm).total_j());
    assert!(o.chip().arrays().all(|(_, a)| !a.is_analog()));
}

#[test]
fn every_layer_on_the_device_is_todays_run_bit_for_bit() {
    let cs = Device::load("constant-step").unwrap();
    for rule in ["bp-oracle", "bp-mirror", "fa", "dfa", "sg", "ff", "dtp"] {
        let (l0, s0, a) = train(rule, &spec(vec![]), &cs);
        for layers in [
            all(LayerDevice::Chip),
            all(LayerDevice::On(Box::new(cs.clone()))),
        ] {
            let (l1, s1, b) = train(rule, &spec(layers), &cs);
            assert_eq!(l0, l1, "{rule}");
            assert_eq!(s0, s1, "{rule}");
            assert_eq!(a.counters(), b.counters(), "{rule}");
            assert_eq!(a.energy_j(), b.energy_j(), "{rule}");
        }
    }
}

#[test]
fn a_digital_layer_costs_digital_operations_and_every_rule_trains_around_it() {
    let cs = Device::load("constant-step").unwrap();
    let mixed = spec(vec![
        LayerDevice::Digital,
        LayerDevice::Chip,
        LayerDevice::Digital,
    ]);
    for rule in ["bp-oracle", "bp-mirror", "fa", "dfa", "sg", "ff", "dtp"] {
        let (losses, scores, l) = train(rule, &mixed, &cs);
        assert!(losses.iter().all(|v| v.is_finite()), "{rule}: {losses:?}");
        assert!(scores.iter().all(|v| v.is_finite()), "{rule}");
        let layers = l.chip().network().layers();
        let analog: Vec<bool> = layers.iter().map(|a| a.is_analog()).collect();
        assert_eq!(analog, [false, true, false], "{rule}");
        for (i, layer) in layers.iter().enumerate().filter(|(_, a)| !a.is_analog()) {
            let c = layer.counters();
            assert!(c.digital_ops > 0, "{rule} layer {i}");
            let only_digital = Counters {
                digital_ops: c.digital_ops,
                ..Counters::default()
            };
            assert_eq!(c, only_digital, "{rule} layer {i}: {c:?}");
            assert_eq!(layer.energy_j(&cs), only_digital.energy(&cs).total_j());
        }
        // A transposed copy of a digital layer is digital memory; of an analog layer, cells of
        // that layer's device.
        let mirrors: Vec<bool> = l
            .chip()
            .arrays()
            .filter(|(r, _)| *r == Role::Mirror)
            .map(|(_, a)| a.is_analog())
            .collect();
        match rule {
            "bp-mirror" | "sg" => assert_eq!(mirrors, [true, false], "{rule}"),
            _ => assert!(mirrors.is_empty(), "{rule}"),
        }
        // Only the analog layer is read through the oracle.
        if rule == "bp-oracle" {
            let middle = &layers[1];
            assert_eq!(l.counters().oracle_reads, middle.counters().oracle_reads);
        }
    }
}

#[test]
fn a_layer_on_another_device_is_made_of_that_device() {
    let cs = Device::load("constant-step").unwrap();
    let pcm = Device::load("pcm").unwrap();
    let s = spec(vec![
        LayerDevice::Chip,
        LayerDevice::On(Box::new(pcm.clone())),
        LayerDevice::Digital,
    ]);
    let (_, _, l) = train("bp-mirror", &s, &cs);
    let layers = l.chip().network().layers();
    assert_eq!(layers[0].device(), Some(&cs));
    assert_eq!(layers[1].device(), Some(&pcm));
    assert_eq!(layers[2].device(), None);
    // The mirror of the pcm layer is pcm; of the digital layer, digital.
    let mirrors: Vec<Option<&Device>> = l
        .chip()
        .arrays()
        .filter(|(r, _)| *r == Role::Mirror)
        .map(|(_, a)| a.device())
        .collect();
    assert_eq!(mirrors, [Some(&pcm), None]);
    // A digital chip (bp-digital) keeps every layer digital.
    let (_, _, d) = train("bp-digital", &s, &cs);
    assert!(d.chip().arrays().all(|(_, a)| !a.is_analog()));
}

#[test]
fn deployment_keeps_digital_layers_digital() {
    let (x, _) = data();
    let (_, s0, mut d) = train("bp-digital", &spec(vec![]), &Device::ideal());
    let w = NetworkWeights::read_out(d.network());
    let inf = Device::load("aihwkit-inference").unwrap();
    let deploy = DeploySpec::default();
    // Every layer kept digital: the trained network's scores exactly, digital work only, and
    // no drift a year later.
    let mut net = DeployedNetwork::program_keeping(&w, &[true; 3], &inf, &deploy, 5);
    net.calibrate_drift_reference();
    net.age_to(3.15e7);
    net.compensate_drift(true);
    assert_eq!(net.scores(&x), s0);
    let c = net.counters();
    assert_eq!(c.reads, 0);
    assert!(c.digital_ops > 0);
    // First and last digital: those layers as trained, the middle one programmed with the
    // random draws it has in a fully programmed copy.
    let mixed = DeployedNetwork::program_keeping(&w, &[true, false, true], &inf, &deploy, 5);
    let full = DeployedNetwork::program(&w, &inf, &deploy, 5);
    let kinds: Vec<bool> = mixed.layers().iter().map(|l| l.is_digital()).collect();
    assert_eq!(kinds, [true, false, true]);
    let a = mixed.layers()[1].inference_array().unwrap();
    let b = full.layers()[1].inference_array().unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

fn errors(src: &str) -> String {
    match Experiment::from_toml(src, "x.toml", "x") {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

const BASE: &str = "learners = [\"bp-oracle\", \"bp-digital\"]\ndevices = [\"constant-step\", \"pcm\"]\n[network]\nhidden = [16, 12]\n";

#[test]
fn bad_layer_devices_are_errors_naming_the_field() {
    let e = errors(&format!(
        "{BASE}layer_devices = [\"digital\", \"device\"]\n"
    ));
    assert!(
        e.contains("x.toml:5")
            && e.contains("network.layer_devices")
            && e.contains("2 entries for 3 layers"),
        "{e}"
    );
    let e = errors(&format!(
        "{BASE}layer_devices = [\"digital\", \"memristor9\", \"device\"]\n"
    ));
    assert!(
        e.contains("network.layer_devices.1") && e.contains("memristor9"),
        "{e}"
    );
    let e = errors(&format!(
        "{BASE}layer_devices = [\"digital\", 3, \"device\"]\n"
    ));
    assert!(e.contains("network.layer_devices.1"), "{e}");
    let e = errors(&format!(
        "{BASE}[[sweep]]\npath = \"network.layer_devices\"\nvalues = [[\"device\", \"device\", \"device\"], [\"digital\", \"pcm-x\", \"digital\"]]\n"
    ));
    assert!(
        e.contains("sweep.0.values.1.1") && e.contains("pcm-x"),
        "{e}"
    );
    let e = errors(&format!(
        "{BASE}[[sweep]]\npath = \"network.layer_devices\"\nvalues = [[\"device\"]]\n"
    ));
    assert!(
        e.contains("sweep.0.values.0") && e.contains("1 entries for 3 layers"),
        "{e}"
    );
}

#[test]
fn a_swept_assignment_is_part_of_the_label_not_a_sweep_axis() {
    let src = format!(
        "{BASE}[[sweep]]\npath = \"network.layer_devices\"\nvalues = [[\"device\", \"device\", \"device\"], [\"digital\", \"device\", \"digital\"], [\"digital\", \"pcm\", \"device\"]]\n"
    );
    let exp = Experiment::from_toml(&src, "x.toml", "x").unwrap();
    assert!(exp.axes.is_empty());
    let labels: Vec<(&str, &str)> = exp
        .points
        .iter()
        .map(|p| (p.learner.as_str(), p.device_label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("bp-oracle", "constant-step"),
            ("bp-oracle", "digital/constant-step/digital"),
            ("bp-oracle", "digital/pcm/constant-step"),
            // Without deployment the assignment changes nothing for a digital learner.
            ("bp-digital", "digital"),
            ("bp-oracle", "pcm"),
            ("bp-oracle", "digital/pcm/digital"),
            ("bp-oracle", "digital/pcm/pcm"),
        ]
    );
    assert!(exp.points.iter().all(|p| p.sweep.is_empty()));
    assert_eq!(exp.points[0].id, "bp-oracle__constant-step__s1");
    // With deployment, it says which layers stay digital on the inference chip.
    let deployed = format!(
        "{src}[evaluate]\ndrift_times_s = [1]\n[deploy]\ndevices = [\"aihwkit-inference\"]\n"
    );
    let exp = Experiment::from_toml(&deployed, "x.toml", "x").unwrap();
    let digital: Vec<&str> = exp
        .points
        .iter()
        .filter(|p| p.learner == "bp-digital")
        .map(|p| p.device_label.as_str())
        .collect();
    assert_eq!(
        digital,
        [
            "digital",
            "digital (digital/analog/digital)",
            "digital (digital/analog/analog)"
        ]
    );
}

#[test]
fn an_experiment_deploys_digital_layers_as_trained() {
    use mortalsim::experiment::{run, RunSettings, Shard};
    // Every layer kept digital at deployment: each copy at each time has the trained accuracy.
    let src = r#"
learners = ["bp-digital"]
devices = ["ideal"]
[data]
train_limit = 500
test_limit = 100
[network]
hidden = [16]
layer_devices = ["digital", "digital"]
[train]
epochs = 1
batch = 10
[evaluate]
drift_times_s = [1, 31536000]
[deploy]
devices = ["aihwkit-inference"]
n_chips = 2
"#;
    let exp = Experiment::from_toml(src, "x.toml", "x").unwrap();
    assert_eq!(exp.points[0].device_label, "digital (digital/digital)");
    let dir = std::env::temp_dir().join(format!("mortalsim-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = RunSettings {
        out: dir.clone(),
        shard: Shard { index: 1, count: 1 },
        force: false,
        command_line: "test".into(),
        wait: false,
    };
    run(&exp, &settings, &|_| {}).expect("run");
    let rec = mortalsim::experiment::rundir::read_point(&dir, &exp.points[0].id).unwrap();
    let trained = rec.epochs.last().unwrap().test_accuracy;
    assert_eq!(rec.deploy.len(), 2 * 2 * 2);
    for d in &rec.deploy {
        assert_eq!(d.test_accuracy, trained, "{d:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mixed_chip_gives_the_same_bits_at_one_and_two_threads() {
    let cs = Device::load("constant-step").unwrap();
    let pcm = Device::load("pcm").unwrap();
    let s = spec(vec![
        LayerDevice::Digital,
        LayerDevice::On(Box::new(pcm)),
        LayerDevice::Chip,
    ]);
    let at = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (losses, scores, l) = train("bp-mirror", &s, &cs);
                (losses, scores, l.counters())
            })
    };
    assert_eq!(at(1), at(2));
}
