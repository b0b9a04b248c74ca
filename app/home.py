"""The home page (FAB's index view), kept out of app.views because FAB imports
it while AppBuilder is still initialising, before any screen may register."""
from flask_appbuilder import IndexView, expose


class HomeView(IndexView):
    index_template = "sijill/index.html"

    @expose("/")
    def index(self):
        return self.render_template(self.index_template, appbuilder=self.appbuilder)
