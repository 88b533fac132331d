"""Where the project's backend runs: on the host, or in a builder container (`--container`).

The container runs only the backend (pip wheel with the image's own Python: the wheel is py3-none,
so that Python does not matter); config.cmake, the version stamp, repair, verification, the
pairing gate and the smoke run on the host exactly as for a host build. The image's glibc decides
the manylinux tag, which is read from the image before anything is compiled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Mapping

from mlc_ci import elf, host
from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker, wheels
from mlc_ci.run import Context, Step
from mlc_ci.sessions import docker_build, pair_steps
from mlc_ci.sessions.wheel_steps import BuildArgv, Layout

# The glibc (the manylinux tag) and the compiler (the .comment check) of a builder image.
PROBE = "getconf GNU_LIBC_VERSION && c++ --version"

# Index settings the container's pip reads by name, when the caller has them.
PASSED_THROUGH = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "CCACHE_REMOTE_STORAGE")


class Container:
    """The builder image of a variant and the steps that make it usable."""

    def __init__(self, config: Config, variant: Variant, layout: Layout, python: str) -> None:
        self.config = config
        self.base = variant.manylinux_image or config.container.image
        setup = (*config.container.setup, *variant.container_setup)
        self.dockerfile = wheels.setup_dockerfile(self.base, setup) if setup else ""
        self.image = wheels.setup_image(variant.name, self.dockerfile) if setup else self.base
        self.python = python if python.startswith(("python", "/")) else f"python{python}"
        self.scratch = layout.stage.parents[1]
        self.home = self.scratch / "container-home"
        self.mounts = (str(self.scratch), str(config.source_dir), str(layout.ccache))

    def env(self, host_env: Mapping[str, str]) -> dict[str, str]:
        """The container's HOME (pip's cache survives the container) and the extra CA."""
        env = {"HOME": str(self.home)}
        if docker_build.ca_bundle(host_env):
            env["PIP_CERT"] = env["SSL_CERT_FILE"] = str(self.home / "ca.pem")
        return env

    def build_argv(self) -> BuildArgv:
        """The backend in a fresh container of the image, driven by the image's pip."""
        user = f"{os.getuid()}:{os.getgid()}"

        def argv(source: str, out_dir: str, build_dir: str, env: Mapping[str, str]):
            inner = wheels.build_argv("pip", source, out_dir, build_dir, self.python)
            return wheels.container_argv(
                self.config.image.docker,
                self.image,
                inner,
                mounts=self.mounts,
                env_names=(*env, *PASSED_THROUGH),
                user=user,
                network=self.config.image.network or "host",
            )

        return argv

    def steps(self, host_env: Mapping[str, str], dry_run: bool) -> tuple[list[Step], list[Step]]:
        """The image (pulled, or made from its base), the home with the CA, and the manylinux
        tag from the image's glibc; and the cleanup steps."""
        made, cleanup = self._image_steps(host_env, dry_run)
        docker_cli = self.config.image.docker
        probe = (docker_cli, "run", "--rm", "--entrypoint", "sh", self.image, "-c", PROBE)
        return [
            *made,
            Step("prepare the container's home", action=self._home(host_env)),
            Step(
                f"read the id of {self.image}",
                (docker_cli, "image", "inspect", "--format", "{{.Id}}", self.image),
                capture=True,
                save_as="image_id",
            ),
            Step(
                f"read the glibc and compiler of {self.image}",
                probe,
                capture=True,
                save_as="image_probe",
                on_fail=f"{self.image} cannot run getconf and c++; a builder image needs both",
            ),
            Step("choose the manylinux tag", action=self._plat()),
        ], cleanup

    def after_build(self) -> list[Step]:
        """Proof that the project's own libraries were compiled in the image: each one's
        `.comment` names the image's compiler (the raw wheel: nothing grafted yet)."""
        return [Step(f"check the libraries were compiled in {self.image}", action=_compiled_in)]

    def _image_steps(
        self, host_env: Mapping[str, str], dry_run: bool
    ) -> tuple[list[Step], list[Step]]:
        """The steps that make the image when the engine lacks it (a dry run without an engine
        cannot tell, and shows none)."""
        docker_cli = self.config.image.docker
        try:
            host.require_engine(docker_cli)
        except PipelineError:
            if dry_run:
                return [], []
            raise
        if host.image_present(docker_cli, self.image):
            return [], []
        made, cleanup = (
            ([], []) if host.image_present(docker_cli, self.base) else self._base(host_env)
        )
        if self.dockerfile:
            made += self._bake()
        return made, cleanup

    def _base(self, host_env: Mapping[str, str]) -> tuple[list[Step], list[Step]]:
        """Pull the builder image, or make it from [container].base."""
        docker_cli = self.config.image.docker
        base = self.config.container.base
        if not base:
            return [self._pull()], []
        if not host.image_present(docker_cli, base):
            suite = base.rpartition(":")[2]
            raise PipelineError(
                f"the base image {base} ([container].base) of {self.base} is not in the "
                f"engine; make it with `docker/bootstrap-base.sh {base} {suite}`."
            )
        args = {"BASE_IMAGE": base}
        copy, remove = docker_build.ca_steps(host_env, args)
        dockerfile = os.path.relpath(self.config.root / self.config.image.dockerfile)
        make = self._build_step(
            f"make {self.base} from {base} (the Dockerfile's toolchain stage)",
            (dockerfile, "toolchain", "."),
            (self.base, args),
        )
        return [*copy, make], remove

    def _bake(self) -> list[Step]:
        """The setup lines on top of the builder, as a local image of their own."""
        where = self.scratch / "container-setup" / self.image.rpartition(":")[2]
        dockerfile = where / "Dockerfile"

        def write(ctx: Context) -> None:
            del ctx
            where.mkdir(parents=True, exist_ok=True)
            dockerfile.write_text(self.dockerfile, encoding="utf-8")

        return [
            Step(f"write the setup Dockerfile of {self.image}", action=write),
            self._build_step(
                f"bake the setup into {self.image}",
                (str(dockerfile), "", str(where)),
                (self.image, {}),
            ),
        ]

    def _build_step(self, title: str, source: tuple[str, str, str], made) -> Step:
        """docker build of (Dockerfile, target, context), tagged `made` = (image, build args)."""
        builder, _ = docker_build.builder_of(self.config, False)
        dockerfile, target, context = source
        opts = docker.BuildOptions(
            docker=self.config.image.docker,
            builder=builder,
            dockerfile=dockerfile,
            context=context,
            network=self.config.image.network,
        )
        iid = str(self.scratch / "container-image.iid")
        image, args = made
        return Step(
            title,
            docker.build_argv(opts, target, [image], args, iid),
            env=docker.build_env(builder),
        )

    def _pull(self) -> Step:
        # The pinned builder (manylinux, by digest) is what a registry has; the setup lines
        # are baked onto it here (`_bake`), so their local name is never pulled.
        return Step(
            f"pull {self.base}",
            (self.config.image.docker, "pull", self.base),
            retries=2,
            on_fail=f"the container image {self.base} is not in the engine and cannot be "
            "pulled; on a host without a registry make a local one: set [container].base "
            "to a base made by docker/bootstrap-base.sh (examples/mini-llm does)",
        )

    def _home(self, host_env: Mapping[str, str]):
        def action(ctx: Context) -> None:
            del ctx
            self.home.mkdir(parents=True, exist_ok=True)
            if docker_build.ca_bundle(host_env):
                docker_build.copy_ca(host_env, str(self.home / "ca.pem"))({})

        return action

    def _plat(self):
        def action(ctx: Context) -> None:
            lines = ctx["image_probe"].splitlines() or [""]
            plat = wheels.container_plat(
                self.config.wheel.plat, lines[0], self.image, self.config.set_by("wheel.plat")
            )
            compiler = lines[1].strip() if len(lines) > 1 else ""
            print(f"      {self.image}: {lines[0].strip()}, so the wheel is {plat}; {compiler}")
            ctx["plat"] = plat
            ctx.setdefault("report", {})["builder"] = {
                "image": self.image,
                "id": ctx["image_id"].strip(),
                "glibc": lines[0].strip(),
                "compiler": compiler,
                "plat": plat,
            }

        return action


def _compiled_in(ctx: Context) -> None:
    builder = ctx["report"]["builder"]
    expected = wheels.expected_comment(builder["compiler"])
    if expected is None:
        print(f"      {builder['compiler']!r} is not GCC: its .comment is not checked")
        return
    found = {}
    with zipfile.ZipFile(ctx["wheel"]) as raw:
        for name in raw.namelist():
            if pair_steps.LIBRARY.search(name):
                found[name] = elf.comments(raw.read(name), name)
    problems = wheels.compiler_problems(found, expected, builder["image"])
    if not found:
        problems = [f"{Path(ctx['wheel']).name} holds no shared library to check"]
    if problems:
        raise PipelineError("; ".join(problems) + ".")
    builder["libraries"] = {name: list(strings) for name, strings in found.items()}
    print(f"      {len(found)} libraries, each built by {expected[5:]}")
