// Bad input through the built binary, one case per line, for every command:
// a flag out of its range, flags that conflict, a file argument missing,
// truncated, or of the wrong kind, an unknown model. Each must exit 2 with
// exactly one line (starting "error:") that names the flag or file (`data
// check` prints its heading first), with no stack trace, and write nothing:
// neither the output it was asked for (OUT: file or folder) nor the data
// root (nothing fetched). Each case is its own test (CTest runs them in
// parallel). docs/cli.md §1.5; docs/reliability.md §4.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sparseloop/io/png.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/util/fs.h"
#include "support/data_files.h"
#include "support/testing.h"

namespace fs = std::filesystem;
namespace td = sparseloop::test_data;

namespace {

struct BadInput {
  const char* name;
  const char* args;   ///< the command line; the tokens below are replaced by paths
  const char* names;  ///< what the error line must contain (tokens replaced too)
  int lines = 1;      ///< stderr lines: the error, after a heading for `data check`
};

// Tokens, per test (fresh): FILE a text file, MISSING a path that does not
// exist, RUN an empty folder (no run), OUT where the command would write
// (must not exist afterwards). Shared by the tests of one process (written
// once, only read): DICT, X (a convolutional dictionary and input), LX (a
// linear input), NOX (a safetensors file without 'x'), XINT (integer 'x'),
// TRUNC (DICT cut short), NOATOMS / NOKERNEL (a dictionary with 0 atoms / a
// 0×0 kernel), DIGITS (an MNIST folder), PHOTOS (three photographs),
// BADPHOTOS (two photographs and a truncated PNG), CIFAR100T (CIFAR-100 with
// test.bin truncated), FAKE (a VDL run folder with its config only),
// BADCONF (a run folder whose config.toml is not TOML), TRUNCRUN (a VDL run
// whose model.safetensors is truncated), VDLRUN (a tiny trained VDL run,
// trained on first use).
const BadInput kCases[] = {
    // A run argument that is missing, a plain file, or a folder without a run.
    {"eval_run_is_a_file", "eval --run FILE", "FILE"},
    {"eval_run_missing", "eval --run MISSING", "MISSING"},
    {"reconstruct_run_not_a_run", "reconstruct --run RUN", "RUN"},
    {"atoms_run_not_a_run", "atoms --run RUN", "RUN"},
    {"denoise_run_not_a_run", "denoise --run RUN", "RUN"},
    {"probe_run_not_a_run", "probe --run RUN", "RUN"},

    // code: files missing, truncated, of the wrong kind or shape; flags out
    // of range or in conflict; an output that cannot be written.
    {"code_dictionary_missing", "code --dictionary MISSING --input X --output OUT/z.st", "MISSING"},
    {"code_dictionary_truncated", "code --dictionary TRUNC --input X --output OUT/z.st", "TRUNC"},
    {"code_dictionary_not_safetensors", "code --dictionary FILE --input X --output OUT/z.st",
     "FILE"},
    {"code_dictionary_is_a_folder", "code --dictionary RUN --input X --output OUT/z.st", "RUN"},
    {"code_dictionary_without_atoms", "code --dictionary NOATOMS --input X --output OUT/z.st",
     "NOATOMS"},
    {"code_dictionary_empty_kernel", "code --dictionary NOKERNEL --input X --output OUT/z.st",
     "NOKERNEL"},
    {"code_input_without_x", "code --dictionary DICT --input NOX --output OUT/z.st", "NOX"},
    {"code_input_integer", "code --dictionary DICT --input XINT --output OUT/z.st", "XINT"},
    {"code_input_shape_mismatch", "code --dictionary DICT --input LX --output OUT/z.st", "LX"},
    {"code_lambda_nan", "code --dictionary DICT --input X --output OUT/z.st --lambda nan",
     "--lambda"},
    {"code_zero_iterations", "code --dictionary DICT --input X --output OUT/z.st --iterations 0",
     "--iterations"},
    {"code_negative_tolerance",
     "code --dictionary DICT --input X --output OUT/z.st --tolerance -1", "--tolerance"},
    {"code_infinite_step", "code --dictionary DICT --input X --output OUT/z.st --step inf",
     "--step"},
    {"code_infinite_mu", "code --dictionary DICT --input X --output OUT/z.st --mu inf", "--mu"},
    {"code_zero_stride", "code --dictionary DICT --input X --output OUT/z.st --stride 0",
     "--stride"},
    {"code_padding_past_the_kernel",
     "code --dictionary DICT --input X --output OUT/z.st --padding 100000", "--padding"},
    {"code_cd_on_a_convolutional_dictionary",
     "code --dictionary DICT --input X --output OUT/z.st --solver cd", "--solver cd"},
    {"code_unknown_solver", "code --dictionary DICT --input X --output OUT/z.st --solver adam",
     "--solver"},
    {"code_output_is_a_folder", "code --dictionary DICT --input X --output RUN", "RUN"},
    {"code_output_inside_a_file", "code --dictionary DICT --input X --output FILE/z.st", "FILE"},
    {"code_without_dictionary", "code --input X --output OUT/z.st", "--dictionary"},

    // data check: folders missing or empty, files truncated, flags out of
    // range or of another format.
    {"data_check_dir_is_a_file", "data check --data cifar10 --data-dir FILE", "FILE"},
    {"data_check_dir_missing", "data check --data stl10 --data-dir MISSING", "MISSING"},
    {"data_check_cifar10_empty_folder", "data check --data cifar10 --data-dir RUN",
     "test_batch.bin", 2},
    {"data_check_cifar100_truncated", "data check --data cifar100 --data-dir CIFAR100T",
     "test.bin", 2},
    {"data_check_folder_without_classes", "data check --data folder --data-dir RUN", "RUN", 2},
    {"data_check_severity_out_of_range",
     "data check --data cifar10c --data-dir RUN --corruption fog --severity 7", "--severity", 2},
    {"data_check_negative_resize", "data check --data stl10 --data-dir RUN --resize -5",
     "--resize", 2},
    {"data_check_negative_crop", "data check --data folder --data-dir RUN --crop -1", "--crop", 2},
    {"data_check_channels", "data check --data folder --data-dir RUN --channels 2", "--channels"},
    {"data_check_coarse_on_cifar10", "data check --data cifar10 --data-dir RUN --coarse",
     "--coarse"},
    {"data_check_resize_on_mnist", "data check --data mnist --data-dir DIGITS --resize 10",
     "--resize"},
    {"data_check_unknown_format", "data check --data imagenet --data-dir RUN", "--data"},
    {"data_check_folder_without_dir", "data check --data folder", "--data-dir"},

    // data crops.
    {"crops_photos_missing", "data crops --out OUT --photos MISSING", "MISSING"},
    {"crops_photos_is_a_file", "data crops --out OUT --photos FILE", "FILE"},
    {"crops_photos_empty", "data crops --out OUT --photos RUN", "RUN"},
    {"crops_truncated_photo", "data crops --out OUT --photos BADPHOTOS --format folder --size 8",
     "broken.png"},
    {"crops_photos_smaller_than_the_crop",
     "data crops --out OUT --photos PHOTOS --format folder --size 64", "--size"},
    {"crops_size_too_small", "data crops --out OUT --photos PHOTOS --size 4", "--size"},
    {"crops_cifar10_not_32", "data crops --out OUT --photos PHOTOS --size 33", "--size"},
    {"crops_zero_train", "data crops --out OUT --photos PHOTOS --train 0", "--train"},
    {"crops_min_scale_below_one", "data crops --out OUT --photos PHOTOS --min-scale 0.5",
     "--min-scale"},
    {"crops_infinite_max_scale", "data crops --out OUT --photos PHOTOS --max-scale inf",
     "--max-scale"},
    {"crops_too_many_classes_for_cifar10", "data crops --out OUT --photos PHOTOS --classes 11",
     "--classes"},
    {"crops_unknown_format", "data crops --out OUT --photos PHOTOS --format png", "--format"},
    {"crops_out_is_a_file", "data crops --out FILE --photos PHOTOS", "FILE"},
    {"crops_out_inside_a_file", "data crops --out FILE/set --photos PHOTOS", "FILE"},
    {"crops_unknown_test_photo",
     "data crops --out OUT --photos PHOTOS --test-photos nosuch.png --train 20 --test 4",
     "nosuch.png"},

    // sweep: everything is checked before DIR or a run in it is made.
    {"sweep_unknown_model", "sweep --out OUT --models nosuch --max-steps 1", "--models"},
    {"sweep_negative_lambda", "sweep --out OUT --lambda -1 --max-steps 1", "--lambda"},
    {"sweep_lambda_not_a_number", "sweep --out OUT --lambda abc --max-steps 1", "--lambda"},
    {"sweep_option_without_value", "sweep --out OUT --option lambda --max-steps 1", "--option"},
    {"sweep_option_unknown", "sweep --out OUT --option nosuch=1 --max-steps 1", "nosuch"},
    {"sweep_option_out_of_range",
     "sweep --out OUT --option code-dim=-1 --models vdl --lambda 0.1 --max-steps 1",
     "--code-dim"},
    {"sweep_option_not_a_number",
     "sweep --out OUT --option code-dim=abc --models vdl --lambda 0.1 --max-steps 1",
     "code-dim"},
    {"sweep_negative_epochs", "sweep --out OUT --epochs -1", "--epochs"},
    {"sweep_epochs_and_max_steps", "sweep --out OUT --epochs 1 --max-steps 1", "--max-steps"},
    {"sweep_unknown_data", "sweep --out OUT --data cifar10", "--data"},
    {"sweep_data_dir_missing",
     "sweep --out OUT --data-dir MISSING --max-steps 1 --models vdl --lambda 0.1", "MISSING"},
    {"sweep_out_is_a_file", "sweep --out FILE --max-steps 1 --models vdl --lambda 0.1", "FILE"},

    // bench: ranges, and flags of another case.
    {"bench_unknown_case", "bench --case nosuch", "--case"},
    {"bench_zero_repeats", "bench --repeats 0", "--repeats"},
    {"bench_profile_under_a_file",
     "bench --case vdl-inference --repeats 1 --profile /etc/passwd/trace.json", "--profile"},
    {"bench_unknown_precision", "bench --precision fp16 --repeats 1", "--precision"},
    {"eval_unknown_precision", "eval --run FILE --precision half", "--precision"},
    {"bench_zero_kernel", "bench --kernel 0 --repeats 1", "--kernel"},
    {"bench_negative_batch", "bench --batch -1 --repeats 1", "--batch"},
    {"bench_unknown_backward", "bench --backward sideways --repeats 1", "--backward"},
    {"bench_ctrl_zero_channels", "bench --case csc-ctrl-step --channels 0 --repeats 1",
     "--channels"},
    {"bench_ctrl_unknown_model", "bench --case csc-ctrl-step --model nosuch --repeats 1",
     "--model"},
    {"bench_sdnet_zero_width", "bench --case sdnet-step --width 0 --repeats 1", "--width"},
    {"bench_backward_of_another_case", "bench --case vdl-inference --backward implicit",
     "--backward"},
    {"bench_size_of_another_case", "bench --case vdl-inference --size 8", "--size"},
    {"bench_channels_of_another_case", "bench --case csc-layer --channels 3", "--channels"},

    // export.
    {"export_run_missing", "export --run MISSING --out OUT/w.pt", "MISSING"},
    {"export_run_is_a_file", "export --run FILE --out OUT/w.pt", "FILE"},
    {"export_run_not_a_run", "export --run RUN --out OUT/w.pt", "RUN"},
    {"export_run_without_weights", "export --run FAKE --out OUT/w.pt", "FAKE"},
    {"export_truncated_weights", "export --run TRUNCRUN --out OUT/w.pt", "model.safetensors"},
    {"export_damaged_config", "export --run BADCONF --out OUT/w.pt", "config.toml"},
    {"export_checkpoint_not_a_name", "export --run VDLRUN --checkpoint latest --out OUT/w.pt",
     "--checkpoint"},
    {"export_checkpoint_missing",
     "export --run VDLRUN --checkpoint step-00000099 --out OUT/w.pt", "step-00000099"},
    {"export_unknown_format", "export --run VDLRUN --format onnx --out OUT/w.pt", "--format"},
    {"export_out_is_a_folder", "export --run VDLRUN --out RUN", "RUN"},
    {"export_out_inside_a_file", "export --run VDLRUN --out FILE/w.pt", "FILE"},

    // import.
    {"import_from_missing", "import --model vdl --from MISSING --out OUT", "MISSING"},
    {"import_from_not_safetensors", "import --model vdl --from FILE --out OUT", "FILE"},
    {"import_from_truncated", "import --model vdl --from TRUNC --out OUT", "TRUNC"},
    {"import_from_a_folder", "import --model vdl --from RUN --out OUT", "RUN"},
    {"import_from_other_tensors", "import --model vdl --from DICT --out OUT", "DICT"},
    {"import_unknown_model", "import --model nosuch --from DICT --out OUT", "nosuch"},
    {"import_model_without_pytorch_code", "import --model csc-ctrl --from DICT --out OUT",
     "csc-ctrl"},
    {"import_out_is_a_file", "import --model vdl --from DICT --out FILE", "FILE"},
    {"import_negative_image_size", "import --model vdl --from DICT --out OUT --image-size -1",
     "--image-size"},
    {"import_config_missing", "import --model vdl --from DICT --out OUT --config MISSING",
     "MISSING"},
    {"import_config_not_toml", "import --model vdl --from DICT --out OUT --config FILE", "FILE"},

    // report.
    {"report_run_is_a_file", "report --run FILE", "FILE"},
    {"report_run_missing", "report --run MISSING --out OUT", "MISSING"},
    {"report_run_not_a_run", "report --run RUN --out OUT", "RUN"},
    {"report_damaged_config", "report --run BADCONF --out OUT", "config.toml"},
    {"report_out_is_a_file", "report --run VDLRUN --out FILE", "FILE"},
    {"report_checkpoint_not_a_name", "report --run VDLRUN --checkpoint latest --out OUT",
     "--checkpoint"},

    // train: the flags every run has, out of range (refused before any data
    // is read or fetched).
    {"train_negative_threads", "train --model vdl --threads -2 --max-steps 1 --out OUT",
     "--threads"},
    {"train_negative_max_steps", "train --model vdl --max-steps -1 --out OUT", "--max-steps"},
    {"train_negative_epochs", "train --model vdl --epochs -3 --out OUT", "--epochs"},
    {"train_epochs_and_max_steps", "train --model vdl --epochs 2 --max-steps 3 --out OUT",
     "--max-steps"},
    {"train_negative_log_every", "train --model vdl --log-every -1 --max-steps 1 --out OUT",
     "--log-every"},
    {"train_zero_keep_checkpoints",
     "train --model vdl --keep-checkpoints 0 --max-steps 1 --out OUT", "--keep-checkpoints"},
    {"train_negative_time_limit", "train --model vdl --time-limit -1 --max-steps 1 --out OUT",
     "--time-limit"},
    {"train_infinite_time_limit", "train --model vdl --time-limit inf --max-steps 1 --out OUT",
     "--time-limit"},
    {"train_zero_dist_timeout", "train --model vdl --dist-timeout 0 --max-steps 1 --out OUT",
     "--dist-timeout"},
    {"train_negative_seed", "train --model vdl --seed -1 --max-steps 1 --out OUT", "--seed"},
    {"train_unknown_device", "train --model vdl --device tpu --max-steps 1 --out OUT",
     "--device"},
    {"train_unknown_model", "train --model nosuch --max-steps 1 --out OUT", "nosuch"},
    {"train_unknown_preset", "train --preset nosuch --max-steps 1 --out OUT", "nosuch"},
    {"train_family_flag_without_model", "train --code-dim 8 --max-steps 1 --out OUT",
     "--code-dim"},
    // train: file arguments missing or of the wrong kind.
    {"train_config_missing", "train --model vdl --config MISSING --max-steps 1 --out OUT",
     "MISSING: no such file"},
    {"train_config_not_toml", "train --model vdl --config FILE --max-steps 1 --out OUT",
     "not valid TOML"},
    {"train_data_dir_is_a_file", "train --model vdl --data-dir FILE --max-steps 1 --out OUT",
     "FILE"},
    {"train_data_dir_missing", "train --model vdl --data-dir MISSING --max-steps 1 --out OUT",
     "MISSING"},
    {"train_out_is_a_file", "train --model vdl --max-steps 1 --out FILE", "FILE"},
    {"train_out_inside_a_file", "train --model vdl --max-steps 1 --out FILE/run", "FILE/run"},
    {"train_resume_missing_folder", "train --resume --out MISSING --max-steps 1", "MISSING"},
    {"train_resume_missing_folder_with_family_flags",
     "train --resume --out MISSING --code-dim 8 --max-steps 1", "MISSING"},
};

// The flags of each model family (docs/cli.md §4.9–4.11) out of range, of
// another family, or in conflict with the data, on a small MNIST folder:
// each is refused before any step, and the run folder is not left behind
// (also when the family checks the flag only once its data is read).
#define VDL "train --model vdl --data mnist --data-dir DIGITS --max-steps 1 --batch-size 20 --out OUT "
#define SDNET \
  "train --model sdnet18 --data mnist --data-dir DIGITS --max-steps 1 --batch-size 8 --out OUT "
#define CTRL                                                                          \
  "train --model csc-ctrl --data mnist --data-dir DIGITS --max-steps 1 --batch-size 8 " \
  "--classifier-epochs 1 --val-size 20 --out OUT "
const BadInput kFamilyFlags[] = {
    {"vdl_zero_code_dim", VDL "--code-dim 0", "--code-dim"},
    {"vdl_unknown_precision", VDL "--precision BF16", "--precision"},
    {"vdl_code_dim_not_an_integer", VDL "--code-dim abc", "--code-dim"},
    {"vdl_zero_hidden_dim", VDL "--hidden-dim 0", "--hidden-dim"},
    {"vdl_negative_lista_iterations", VDL "--lista-iterations -1", "--lista-iterations"},
    {"vdl_lambda_nan", VDL "--lambda nan", "--lambda"},
    {"vdl_infinite_beta", VDL "--beta inf", "--beta"},
    {"vdl_zero_hinge_threshold", VDL "--hinge-threshold 0", "--hinge-threshold"},
    {"vdl_negative_gamma", VDL "--gamma -1", "--gamma"},
    {"vdl_infinite_gamma", VDL "--gamma inf", "--gamma"},
    {"vdl_infinite_inference_step", VDL "--inference-step inf", "--inference-step"},
    {"vdl_zero_inference_steps", VDL "--inference-steps 0", "--inference-steps"},
    {"vdl_negative_inference_tolerance", VDL "--inference-tolerance -1",
     "--inference-tolerance"},
    {"vdl_unknown_stop_rule", VDL "--stop-rule sometimes", "--stop-rule"},
    {"vdl_unknown_normalize_decoder", VDL "--normalize-decoder maybe", "--normalize-decoder"},
    {"vdl_zero_lr_decoder", VDL "--lr-decoder 0", "--lr-decoder"},
    {"vdl_infinite_lr_encoder", VDL "--lr-encoder inf", "--lr-encoder"},
    {"vdl_negative_wd_encoder", VDL "--wd-encoder -1", "--wd-"},
    {"vdl_infinite_wd_decoder_bias", VDL "--wd-decoder-bias inf", "--wd-decoder-bias"},
    {"vdl_negative_anneal_every", VDL "--anneal-decoder-every -1", "--anneal-decoder-every"},
    {"vdl_infinite_anneal_factor", VDL "--anneal-decoder-factor inf", "--anneal-decoder-factor"},
    {"vdl_negative_patience", VDL "--patience -1", "--patience"},
    {"vdl_val_fraction_one", VDL "--val-fraction 1", "--val-fraction"},
    {"vdl_negative_train_limit", VDL "--train-limit -1", "--train-limit"},
    {"vdl_negative_data_seed", VDL "--data-seed -1", "--data-seed"},
    {"vdl_zero_patches_train", VDL "--patches-train 0", "--patches-train"},
    {"vdl_negative_patch_resize", VDL "--patch-resize -1", "--patch-resize"},
    {"vdl_negative_patch_min_std", VDL "--patch-min-std -1", "--patch-min-std"},
    {"vdl_negative_patch_max_images", VDL "--patch-max-images -1", "--patch-max-images"},
    {"vdl_negative_denoise_sigma", VDL "--denoise-sigma -1", "--denoise-sigma"},
    {"vdl_flag_of_sdnet", VDL "--csc-lambda 0.1", "--csc-lambda"},
    {"vdl_data_of_another_family",
     "train --model vdl --data cifar10 --data-dir DIGITS --max-steps 1 --out OUT", "--data"},
    {"vdl_batch_larger_than_the_data",
     "train --model vdl --data mnist --data-dir DIGITS --max-steps 1 --batch-size 5000 --out OUT",
     "--batch-size"},

    {"sdnet_zero_width", SDNET "--width 0", "--width"},
    {"sdnet_unknown_stem", SDNET "--stem round", "--stem"},
    {"sdnet_negative_csc_lambda", SDNET "--csc-lambda -1", "--csc-lambda"},
    {"sdnet_zero_csc_steps", SDNET "--csc-steps 0", "--csc-steps"},
    {"sdnet_csc_step_factor_two", SDNET "--csc-step-factor 2", "--csc-step-factor"},
    {"sdnet_unknown_step_refresh", SDNET "--step-refresh often", "--step-refresh"},
    {"sdnet_zero_power_iterations", SDNET "--power-iterations 0", "--power-iterations"},
    {"sdnet_negative_power_tolerance", SDNET "--power-tolerance -1", "--power-tolerance"},
    {"sdnet_negative_restart_threshold", SDNET "--restart-threshold -1", "--restart-threshold"},
    {"sdnet_check_step_not_a_multiple", SDNET "--check-step-every 3", "--check-step-every"},
    {"sdnet_zero_lr", SDNET "--lr 0", "--lr"},
    {"sdnet_infinite_lr", SDNET "--lr inf", "--lr"},
    {"sdnet_momentum_one", SDNET "--momentum 1", "--momentum"},
    {"sdnet_negative_weight_decay", SDNET "--weight-decay -1", "--weight-decay"},
    {"sdnet_unknown_schedule", SDNET "--schedule linear", "--schedule"},
    {"sdnet_negative_lr_min", SDNET "--lr-min -1", "--lr-min"},
    {"sdnet_milestones_not_numbers", SDNET "--milestones a,b", "--milestones"},
    {"sdnet_negative_milestone", SDNET "--milestones -5", "--milestones"},
    {"sdnet_zero_gamma", SDNET "--gamma 0", "--gamma"},
    {"sdnet_unknown_augment", SDNET "--augment rotate", "--augment"},
    {"sdnet_negative_crop_padding", SDNET "--crop-padding -1", "--crop-padding"},
    {"sdnet_negative_image_size", SDNET "--image-size -1", "--image-size"},
    {"sdnet_image_size_too_small", SDNET "--image-size 4", "--image-size"},
    {"sdnet_image_size_odd_padding", SDNET "--image-size 33", "--image-size"},
    {"sdnet_zero_load_size", SDNET "--load-size 0", "--load-size"},
    {"sdnet_normalize_not_a_pair", SDNET "--normalize bad", "--normalize"},
    {"sdnet_normalize_wrong_channels", SDNET "--normalize 1,2/1,1", "--normalize"},
    {"sdnet_zero_test_batch_size", SDNET "--test-batch-size 0", "--test-batch-size"},
    {"sdnet_negative_test_limit", SDNET "--test-limit -1", "--test-limit"},
    {"sdnet_flag_of_ctrl", SDNET "--lambda 0.1", "--lambda"},
    {"sdnet_data_of_another_family",
     "train --model sdnet18 --data patches --data-dir DIGITS --max-steps 1 --out OUT", "--data"},
    {"sdnet_batch_larger_than_the_data",
     "train --model sdnet18 --data mnist --data-dir DIGITS --max-steps 1 --batch-size 5000 "
     "--width 4 --out OUT",
     "--batch-size"},

    {"ctrl_zero_width", CTRL "--width 0", "--width"},
    {"ctrl_strategy_three", CTRL "--strategy 3", "--strategy"},
    {"ctrl_unknown_objective", CTRL "--objective both", "--objective"},
    {"ctrl_zero_lr", CTRL "--lr 0", "--lr"},
    {"ctrl_zero_encoder_lr_ratio", CTRL "--encoder-lr-ratio 0", "--encoder-lr-ratio"},
    {"ctrl_infinite_lr", CTRL "--lr inf", "--lr"},
    {"ctrl_beta1_one", CTRL "--beta1 1", "--beta1"},
    {"ctrl_unknown_lr_decay", CTRL "--lr-decay cosine", "--lr-decay"},
    {"ctrl_zero_encoder_steps", CTRL "--encoder-steps 0", "--encoder-steps"},
    {"ctrl_negative_lambda", CTRL "--lambda -1", "--lambda"},
    {"ctrl_zero_fista_steps", CTRL "--fista-steps 0", "--fista-steps"},
    {"ctrl_zero_step_factor", CTRL "--step-factor 0", "--step-factor"},
    {"ctrl_unknown_precision", CTRL "--precision fp16", "--precision"},
    {"ctrl_step_factor_two", CTRL "--step-factor 2", "--step-factor"},
    {"ctrl_infinite_step_factor", CTRL "--step-factor inf", "--step-factor"},
    {"ctrl_zero_eps_sq", CTRL "--eps-sq 0", "--eps-sq"},
    {"ctrl_class_out_of_range", CTRL "--classes 0,99", "--classes"},
    {"ctrl_classes_not_numbers", CTRL "--classes a", "--classes"},
    {"ctrl_val_size_larger_than_the_data",
     "train --model csc-ctrl --data mnist --data-dir DIGITS --max-steps 1 --batch-size 8 "
     "--classifier-epochs 1 --val-size 100000 --out OUT",
     "--val-size"},
    {"ctrl_unknown_mnist_to_32", CTRL "--mnist-to-32 crop", "--mnist-to-32"},
    {"ctrl_unknown_augmentation", CTRL "--augment rotate", "--augment"},
    {"ctrl_augmentation_list_with_an_empty_item", CTRL "--augment hflip,", "--augment"},
    {"ctrl_flag_of_sdnet", CTRL "--csc-lambda 0.1", "--csc-lambda"},
    {"ctrl_data_of_another_family",
     "train --model csc-ctrl --data patches --data-dir DIGITS --max-steps 1 --out OUT", "--data"},
    {"ctrl_negative_classifier_epochs",
     "train --model csc-ctrl --data mnist --data-dir DIGITS --max-steps 1 --out OUT "
     "--classifier-epochs -1",
     "--classifier-epochs"},
    {"ctrl_baseline_zero_latent",
     "train --model ctrl --data mnist --data-dir DIGITS --max-steps 1 --batch-size 8 --out OUT "
     "--val-size 20 --latent 0",
     "--latent"},
};
#undef VDL
#undef SDNET
#undef CTRL

/// The files every test of this process reads, written once.
class Fixtures {
 public:
  static Fixtures& get() {
    static Fixtures f;
    return f;
  }
  /// The path of a shared token (lower-case on disk: no token inside).
  std::string path(const std::string& token) {
    if (token == "VDLRUN") train_vdl_run();
    return dir_.file(lower(token));
  }
  static bool shared(const std::string& token) {
    static const std::set<std::string> tokens = {
        "DICT", "X", "LX", "NOX", "XINT", "TRUNC", "NOATOMS", "NOKERNEL", "DIGITS", "PHOTOS",
        "BADPHOTOS", "CIFAR100T", "FAKE", "BADCONF", "TRUNCRUN", "VDLRUN"};
    return tokens.count(token) > 0;
  }

 private:
  Fixtures() {
    using sparseloop::save_safetensors;
    torch::manual_seed(0);
    save_safetensors(file("DICT"), {{"weight", torch::randn({2, 1, 3, 3})}});
    save_safetensors(file("X"), {{"x", torch::randn({2, 1, 8, 8})}});
    save_safetensors(file("LX"), {{"x", torch::randn({3, 6})}});
    save_safetensors(file("NOX"), {{"y", torch::randn({2, 2})}});
    save_safetensors(file("XINT"), {{"x", torch::ones({2, 1, 8, 8}, torch::kLong)}});
    save_safetensors(file("NOATOMS"), {{"weight", torch::zeros({0, 1, 3, 3})}});
    save_safetensors(file("NOKERNEL"), {{"weight", torch::zeros({2, 1, 0, 0})}});
    const std::string dict = sparseloop::read_file(file("DICT"));
    td::write_bytes(file("TRUNC"), dict.substr(0, dict.size() / 2));
    td::write_bar_digits(file("DIGITS"), 120, 40);
    // Photographs: noise, 48×48 (RGB).
    for (const char* d : {"PHOTOS", "BADPHOTOS"}) {
      fs::create_directories(file(d));
      for (int i = 0; i < (d[0] == 'P' ? 3 : 2); ++i)
        sparseloop::write_png(file(std::string(d) + "/p" + std::to_string(i) + ".png"),
                              torch::rand({3, 48, 48}));
    }
    const std::string png = sparseloop::encode_png(torch::rand({3, 48, 48}));
    td::write_bytes(file("BADPHOTOS/broken.png"), png.substr(0, png.size() / 3));
    // CIFAR-100: a good train.bin, a test.bin cut inside its second record.
    fs::create_directories(file("CIFAR100T"));
    const std::string record = std::string("\x01\x02", 2) + std::string(3072, '\x40');
    td::write_bytes(file("CIFAR100T/train.bin"), record + record);
    td::write_bytes(file("CIFAR100T/test.bin"), record + record.substr(0, 1000));
    // Run folders that are not whole.
    for (const char* d : {"FAKE", "TRUNCRUN", "BADCONF"}) fs::create_directories(file(d));
    for (const char* d : {"FAKE", "TRUNCRUN"})
      std::ofstream(file(std::string(d) + "/config.toml"))
          << "model = \"vdl\"\ndata = \"mnist\"\n[vdl]\ncode-dim = 16\n";
    td::write_bytes(file("TRUNCRUN/model.safetensors"), dict.substr(0, 40));
    std::ofstream(file("TRUNCRUN/model_info.json"))
        << R"({"model": "vdl", "input_dim": 784, "channels": 1, "height": 28, "width": 28})";
    std::ofstream(file("BADCONF/config.toml")) << "model = [\n";
  }
  void train_vdl_run() {
    if (trained_) return;
    trained_ = true;
    const auto r = ts::run_cli("train --model vdl --data mnist --data-dir " + file("DIGITS") +
                               " --code-dim 16 --batch-size 40 --inference-steps 20 --max-steps 2"
                               " --threads 1 --out " + file("VDLRUN"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  std::string file(const std::string& token) const { return dir_.file(lower(token)); }
  ts::TempDir dir_;
  bool trained_ = false;
};

void expect_refused(const BadInput& c) {
  ts::TempDir dir;
  const std::string file = dir.file("a-file"), run = dir.file("not-a-run");
  const std::string file_text = "not what it should be\n";
  std::ofstream(file) << file_text;
  fs::create_directories(run);
  setenv("SPARSELOOP_DATA", dir.file("data-root").c_str(), 1);  // nothing fetched outside
  setenv("OMP_NUM_THREADS", "1", 1);
  // A token is a whole word, or the start of one before '/' or ':'
  // (OUT/z.st, FILE/run, MISSING: …); paths never contain one.
  const std::map<std::string, std::string> own = {{"FILE", file},
                                                  {"MISSING", dir.file("missing")},
                                                  {"RUN", run},
                                                  {"OUT", dir.file("out")}};
  auto expand = [&](const std::string& text) {
    std::string out, word;
    std::istringstream words(text);
    while (words >> word) {
      const size_t end = word.find_first_of("/:");
      const std::string head = word.substr(0, end);
      const std::string tail = end == std::string::npos ? "" : word.substr(end);
      if (own.count(head)) word = own.at(head) + tail;
      else if (Fixtures::shared(head)) word = Fixtures::get().path(head) + tail;
      out += (out.empty() ? "" : " ") + word;
    }
    return out;
  };
  const auto r = ts::run_cli(expand(c.args) + " --threads 1");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), c.lines) << r.err;
  // The error is the last line; nothing else of it (no stack trace).
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_EQ(c.lines == 1 ? r.err.rfind("error: ", 0) : last.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(last.find(expand(c.names)), std::string::npos) << r.err;
  for (const char* trace : {"Exception raised", "terminate called", "frame #", "Aborted"})
    EXPECT_EQ(r.err.find(trace), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("out"))) << "wrote " << dir.file("out");
  EXPECT_FALSE(fs::exists(dir.file("missing"))) << "created " << dir.file("missing");
  EXPECT_TRUE(fs::is_empty(run)) << "wrote into " << run;
  EXPECT_EQ(sparseloop::read_file(file), file_text) << "changed " << file;
  EXPECT_FALSE(fs::exists(dir.file("data-root"))) << "fetched data";
}

class BadInputCommand : public ::testing::TestWithParam<BadInput> {};
TEST_P(BadInputCommand, ExitsTwoWithOneLineNamingIt) { expect_refused(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Cases, BadInputCommand, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

class BadFamilyFlag : public ::testing::TestWithParam<BadInput> {};
TEST_P(BadFamilyFlag, ExitsTwoWithOneLineNamingIt) { expect_refused(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Flags, BadFamilyFlag, ::testing::ValuesIn(kFamilyFlags),
                         [](const auto& info) { return std::string(info.param.name); });

// A sweep run again over a run whose eval.json is damaged: named, exit 2
// (it escaped as nlohmann's parse error, exit 1); nothing else is written.
TEST(BadInputSweep, DamagedEvalJsonOfAFinishedRunIsNamed) {
  ts::TempDir dir;
  const std::string run = dir.file("sweep/vdl-lambda-0.1");
  fs::create_directories(run);
  for (const char* text : {"{\"psnr\": ", "{\"psnr\": \"high\"}", "[1, 2]"}) {
    std::ofstream(run + "/eval.json", std::ios::trunc) << text;
    const auto r = ts::run_cli("sweep --out " + dir.file("sweep") +
                               " --models vdl --lambda 0.1 --max-steps 1 --threads 1");
    EXPECT_EQ(r.exit_code, 2) << text << ": " << r.err;
    EXPECT_NE(r.err.find("error: " + run + "/eval.json: damaged"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir.file("sweep/sweep.json")));
  }
}

}  // namespace
