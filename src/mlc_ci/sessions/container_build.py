"""Where the project's backend runs: on the host, or in a builder container (`--container`).

The container runs only the backend (pip wheel with the image's own Python: the wheel is py3-none,
so that Python does not matter); config.cmake, the version stamp, repair, verification, the
pairing gate and the smoke run on the host exactly as for a host build. The image's glibc decides
the manylinux tag, which is read from the image before anything is compiled.
"""

from __future__ import annotations

import os
from typing import Mapping

from mlc_ci import host
from mlc_ci.config import Config, Variant
from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker, wheels
from mlc_ci.run import Context, Step
from mlc_ci.sessions import docker_build
from mlc_ci.sessions.wheel_steps import BuildArgv, Layout

# Index settings the container's pip reads by name, when the caller has them.
PASSED_THROUGH = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "CCACHE_REMOTE_STORAGE")


class Container:
    """The builder image of a variant and the steps that make it usable."""

    def __init__(self, config: Config, variant: Variant, layout: Layout, python: str) -> None:
        self.config = config
        self.image = variant.manylinux_image or config.wheel.manylinux_image
        self.python = python if python.startswith("python") else f"python{python}"
        self.scratch = layout.stage.parents[1]
        self.home = self.scratch / "container-home"
        self.mounts = (str(self.scratch), str(config.source_dir), str(layout.ccache))

    def env(self, host_env: Mapping[str, str]) -> dict[str, str]:
        """The container's HOME (pip's cache survives the container) and the extra CA."""
        env = {"HOME": str(self.home)}
        if host_env.get("MLC_CI_CA_BUNDLE"):
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
        made, cleanup = ([], []) if dry_run else self._image_steps(host_env)
        docker_cli = self.config.image.docker
        probe = (docker_cli, "run", "--rm", "--entrypoint", "getconf", self.image)
        return [
            *made,
            Step("prepare the container's home", action=self._home(host_env)),
            Step(
                f"read the glibc of {self.image}",
                (*probe, "GNU_LIBC_VERSION"),
                capture=True,
                save_as="image_glibc",
            ),
            Step("choose the manylinux tag", action=self._plat()),
        ], cleanup

    def _image_steps(self, host_env: Mapping[str, str]) -> tuple[list[Step], list[Step]]:
        docker_cli = self.config.image.docker
        host.require_engine(docker_cli)
        if host.image_present(docker_cli, self.image):
            return [], []
        base = self.config.wheel.manylinux_base
        if not base:
            return [self._pull()], []
        if not host.image_present(docker_cli, base):
            suite = base.rpartition(":")[2]
            raise PipelineError(
                f"the base image {base} ([wheel].manylinux_base) of {self.image} is not in the "
                f"engine; make it with `docker/bootstrap-base.sh {base} {suite}`."
            )
        args = {"BASE_IMAGE": base}
        copy, remove = docker_build.ca_steps(host_env, args)
        builder, _ = docker_build.builder_of(self.config, False)
        opts = docker.BuildOptions(
            docker=docker_cli,
            builder=builder,
            dockerfile=os.path.relpath(self.config.root / self.config.image.dockerfile),
            context=".",
            network=self.config.image.network,
        )
        iid = str(self.scratch / "container-image.iid")
        make = Step(
            f"make {self.image} from {base} (the Dockerfile's toolchain stage)",
            docker.build_argv(opts, "toolchain", [self.image], args, iid),
            env=docker.build_env(builder),
        )
        return [*copy, make], remove

    def _pull(self) -> Step:
        return Step(
            f"pull {self.image}",
            (self.config.image.docker, "pull", self.image),
            retries=2,
            on_fail=f"the container image {self.image} is not in the engine and cannot be "
            "pulled; on a host without a registry make a local one: set [wheel].manylinux_base "
            "to a base made by docker/bootstrap-base.sh (examples/mini-llm does)",
        )

    def _home(self, host_env: Mapping[str, str]):
        def action(ctx: Context) -> None:
            del ctx
            self.home.mkdir(parents=True, exist_ok=True)
            if host_env.get("MLC_CI_CA_BUNDLE"):
                docker_build.copy_ca(host_env, str(self.home / "ca.pem"))({})

        return action

    def _plat(self):
        def action(ctx: Context) -> None:
            plat = wheels.container_plat(
                self.config.wheel.plat,
                ctx["image_glibc"],
                self.image,
                self.config.set_by("wheel.plat"),
            )
            print(f"      {self.image}: {ctx['image_glibc'].strip()}, so the wheel is {plat}")
            ctx["plat"] = plat
            ctx.setdefault("report", {})["builder"] = {
                "image": self.image,
                "glibc": ctx["image_glibc"].strip(),
                "plat": plat,
            }

        return action
